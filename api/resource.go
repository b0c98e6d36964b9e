package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/attendant/attendant/store"
)

// resource describes one admin collection (sites, devices, …) so that all
// of them get the same CRUD endpoints, paging, scoping, validation and
// audit entries. C is the writable shape (the POST body); PATCH merges its
// body onto the stored record's C and validates the result like a POST.
type resource[T store.Row, C any, V any] struct {
	name       string // singular, for messages and audit: "site"
	path       string // "/api/v1/sites"
	tag        string
	readRoles  []string
	writeRoles []string
	// build validates in and writes it into v (a new record or the stored
	// one); it checks references and secrets the schema cannot express.
	build func(ctx context.Context, q store.Q, in *C, v *T) error
	// siteOf returns the site a record belongs to, for scoping.
	siteOf func(*T) string
	// scopeColumn is the column a caller's site scope filters on.
	scopeColumn string
	// present turns a record into what the API shows (derived flags,
	// live state); use same for records shown as stored.
	present func(ctx context.Context, v *T) V
	// changed and deleted run after a write commits (to tell live parts of
	// the server, e.g. camera ingest); may be nil.
	changed func(v *T)
	deleted func(id string)
	// beforeDelete may refuse a delete; may be nil.
	beforeDelete func(ctx context.Context, q store.Q, v *T) error
	// meta returns the id and timestamps to set.
	meta func(*T) (id *string, created, updated *time.Time)
}

type idInput struct {
	ID string `path:"id" maxLength:"64"`
}

type createInput[C any] struct {
	Body C
}

type patchInput struct {
	ID      string `path:"id" maxLength:"64"`
	RawBody []byte
}

type itemOutput[T any] struct {
	Body T
}

type listBody[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next" doc:"Cursor of the next page; null on the last page"`
}

type listOutput[T any] struct {
	Body listBody[T]
}

type PageParams struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Page size"`
	Cursor string `query:"cursor" maxLength:"64" doc:"The next value of the previous page"`
}

func (p PageParams) filter() store.Filter {
	return store.Filter{Limit: p.Limit, Cursor: p.Cursor}
}

const maxAdminBody = 64 << 10

// register adds list, create, get, patch and delete for the resource.
// listFilter turns the list's query parameters into a store filter.
func register[T store.Row, C, V, L any](s *Server, r resource[T, C, V], listFilter func(*L) store.Filter) {
	plural := strings.TrimPrefix(r.path, "/api/v1/")
	opID := strings.ReplaceAll(r.name, " ", "-")

	huma.Register(s.api, s.operation(http.MethodGet, r.path, "list-"+plural, r.tag, "List "+plural, r.readRoles),
		func(ctx context.Context, in *L) (*listOutput[V], error) {
			f := listFilter(in)
			if scope := siteScope(PrincipalFrom(ctx)); scope != nil && r.scopeColumn != "" {
				if f.In == nil {
					f.In = map[string][]string{}
				}
				f.In[r.scopeColumn] = scope
			}
			items, next, err := store.List[T](ctx, s.db.Q(), f)
			if err != nil {
				return nil, s.storeError(r.name, err)
			}
			views := make([]V, len(items))
			for i := range items {
				views[i] = r.present(ctx, &items[i])
			}
			out := &listOutput[V]{Body: listBody[V]{Items: views}}
			if next != "" {
				out.Body.Next = &next
			}
			return out, nil
		})

	op := s.operation(http.MethodPost, r.path, "create-"+opID, r.tag, "Create a "+r.name, r.writeRoles)
	op.DefaultStatus = http.StatusCreated
	op.MaxBodyBytes = maxAdminBody
	op.Errors = append(op.Errors, http.StatusConflict)
	huma.Register(s.api, op, func(ctx context.Context, in *createInput[C]) (*itemOutput[V], error) {
		var v T
		id, created, updated := r.meta(&v)
		*id = store.NewID()
		now := store.Now()
		*created, *updated = now, now
		err := s.db.InTx(ctx, func(q store.Q) error {
			if err := r.build(ctx, q, &in.Body, &v); err != nil {
				return err
			}
			if err := s.checkSiteWrite(ctx, r.siteOf(&v)); err != nil {
				return err
			}
			if err := store.Insert(ctx, q, &v); err != nil {
				return err
			}
			return s.audit(ctx, q, r.name+".create", r.name, *id, r.siteOf(&v), nil)
		})
		if err != nil {
			return nil, s.apiError(r.name, err)
		}
		if r.changed != nil {
			r.changed(&v)
		}
		return &itemOutput[V]{Body: r.present(ctx, &v)}, nil
	})

	huma.Register(s.api, s.operation(http.MethodGet, r.path+"/{id}", "get-"+opID, r.tag, "Get a "+r.name, r.readRoles),
		func(ctx context.Context, in *idInput) (*itemOutput[V], error) {
			v, err := r.load(ctx, s, s.db.Q(), in.ID)
			if err != nil {
				return nil, err
			}
			return &itemOutput[V]{Body: r.present(ctx, &v)}, nil
		})

	op = s.operation(http.MethodPatch, r.path+"/{id}", "update-"+opID, r.tag,
		"Update a "+r.name+" (fields not sent stay as they are)", r.writeRoles)
	op.MaxBodyBytes = maxAdminBody
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	op.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"application/json": {Schema: s.patchSchema(reflect.TypeFor[C]())},
	}}
	huma.Register(s.api, op, func(ctx context.Context, in *patchInput) (*itemOutput[V], error) {
		var v T
		err := s.db.InTx(ctx, func(q store.Q) error {
			var err error
			if v, err = r.load(ctx, s, q, in.ID); err != nil {
				return err
			}
			body, fields, err := s.mergePatch(v, in.RawBody, reflect.TypeFor[C]())
			if err != nil {
				return err
			}
			if err := r.build(ctx, q, body.(*C), &v); err != nil {
				return err
			}
			if err := s.checkSiteWrite(ctx, r.siteOf(&v)); err != nil {
				return err
			}
			_, _, updated := r.meta(&v)
			*updated = store.Now()
			if err := store.Update(ctx, q, &v); err != nil {
				return err
			}
			return s.audit(ctx, q, r.name+".update", r.name, in.ID, r.siteOf(&v), map[string]any{"fields": fields})
		})
		if err != nil {
			return nil, s.apiError(r.name, err)
		}
		if r.changed != nil {
			r.changed(&v)
		}
		return &itemOutput[V]{Body: r.present(ctx, &v)}, nil
	})

	op = s.operation(http.MethodDelete, r.path+"/{id}", "delete-"+opID, r.tag, "Delete a "+r.name, r.writeRoles)
	op.DefaultStatus = http.StatusNoContent
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(s.api, op, func(ctx context.Context, in *idInput) (*struct{}, error) {
		err := s.db.InTx(ctx, func(q store.Q) error {
			v, err := r.load(ctx, s, q, in.ID)
			if err != nil {
				return err
			}
			if r.beforeDelete != nil {
				if err := r.beforeDelete(ctx, q, &v); err != nil {
					return err
				}
			}
			if err := store.Delete[T](ctx, q, in.ID); err != nil {
				return err
			}
			return s.audit(ctx, q, r.name+".delete", r.name, in.ID, r.siteOf(&v), nil)
		})
		if err != nil {
			return nil, s.apiError(r.name, err)
		}
		if r.deleted != nil {
			r.deleted(in.ID)
		}
		return nil, nil
	})
}

// same presents a record as stored.
func same[T any](_ context.Context, v *T) T { return *v }

// load reads a record the caller may see; one outside the caller's sites
// is "not found", so ids of other sites' records leak nothing.
func (r resource[T, C, V]) load(ctx context.Context, s *Server, q store.Q, id string) (T, error) {
	v, err := store.Get[T](ctx, q, id)
	if err != nil {
		return v, s.apiError(r.name, err)
	}
	if !inScope(PrincipalFrom(ctx), r.siteOf(&v)) {
		return v, errNotFound(r.name, id)
	}
	return v, nil
}

// checkSiteWrite refuses writes into a site the caller is not assigned to.
func (s *Server) checkSiteWrite(ctx context.Context, siteID string) error {
	if siteID != "" && !inScope(PrincipalFrom(ctx), siteID) {
		return errForbidden("not assigned to site " + siteID)
	}
	return nil
}

// apiError passes API errors through and maps store errors.
func (s *Server) apiError(what string, err error) error {
	if _, ok := err.(huma.StatusError); ok {
		return err
	}
	return s.storeError(what, err)
}

// mergePatch overlays a JSON object onto the stored record's writable
// fields and validates the result against the create schema.
func (s *Server) mergePatch(stored any, raw []byte, inputType reflect.Type) (any, []string, error) {
	body := reflect.New(inputType).Interface()
	cur, err := json.Marshal(stored)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(cur, body); err != nil {
		return nil, nil, fmt.Errorf("copy stored fields: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, nil, errBadRequest("body must be a JSON object: %v", errOrNull(err))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(body); err != nil {
		return nil, nil, errBadRequest("invalid body: %v", err)
	}
	merged, _ := json.Marshal(body)
	var asMap any
	_ = json.Unmarshal(merged, &asMap)
	reg := s.api.OpenAPI().Components.Schemas
	schema := reg.Schema(inputType, true, "")
	res := &huma.ValidateResult{}
	huma.Validate(reg, schema, huma.NewPathBuffer([]byte("body"), 4), huma.ModeWriteToServer, asMap, res)
	if len(res.Errors) > 0 {
		return nil, nil, newError(http.StatusBadRequest, "validation failed", res.Errors...)
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	return body, names, nil
}

func errOrNull(err error) any {
	if err == nil {
		return "got null"
	}
	return err
}

// patchSchema documents a PATCH body: the create body with nothing required.
func (s *Server) patchSchema(inputType reflect.Type) *huma.Schema {
	reg := s.api.OpenAPI().Components.Schemas
	full := reg.Schema(inputType, true, "")
	if full.Ref != "" {
		full = reg.SchemaFromRef(full.Ref)
	}
	patch := *full
	patch.Required = nil
	return &patch
}
