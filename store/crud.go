package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Q runs queries: the DB itself or a transaction from InTx.
type Q interface {
	sqlx.ExtContext
}

// Row is a model type that lives in one table.
type Row interface {
	Table() string
}

// Table names, one per model.
func (Site) Table() string        { return "sites" }
func (AccessPoint) Table() string { return "access_points" }
func (Device) Table() string      { return "devices" }
func (Camera) Table() string      { return "cameras" }
func (User) Table() string        { return "users" }
func (Token) Table() string       { return "tokens" }
func (Case) Table() string        { return "cases" }
func (Evidence) Table() string    { return "evidence" }
func (Recording) Table() string   { return "recordings" }

// Q returns the querier outside any transaction.
func (db *DB) Q() Q { return db.x }

// InTx runs fn in a transaction, committed when fn returns nil and rolled
// back otherwise, so a failed request leaves nothing half-written.
func (db *DB) InTx(ctx context.Context, fn func(q Q) error) error {
	tx, err := db.x.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	return nil
}

// columns lists the db-tagged fields of a model, in field order.
func columns(t reflect.Type) []string {
	cols := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("db")
		if tag == "" || tag == "-" {
			continue
		}
		cols = append(cols, tag)
	}
	return cols
}

func columnsOf[T Row]() (string, []string) {
	var zero T
	return zero.Table(), columns(reflect.TypeOf(zero))
}

// Insert writes a new row.
func Insert[T Row](ctx context.Context, q Q, v *T) error {
	table, cols := columnsOf[T]()
	stmt := fmt.Sprintf("INSERT INTO %s (%s) VALUES (:%s)", table,
		strings.Join(cols, ", "), strings.Join(cols, ", :"))
	if _, err := sqlx.NamedExecContext(ctx, q, stmt, v); err != nil {
		return fmt.Errorf("insert into %s: %w", table, mapError(err))
	}
	return nil
}

// Update rewrites every column of the row with v's id but its id and
// creation time.
func Update[T Row](ctx context.Context, q Q, v *T) error {
	table, cols := columnsOf[T]()
	sets := make([]string, 0, len(cols))
	for _, c := range cols {
		if c == "id" || c == "created_at" {
			continue
		}
		sets = append(sets, c+" = :"+c)
	}
	stmt := fmt.Sprintf("UPDATE %s SET %s WHERE id = :id", table, strings.Join(sets, ", "))
	res, err := sqlx.NamedExecContext(ctx, q, stmt, v)
	if err != nil {
		return fmt.Errorf("update %s: %w", table, mapError(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("update %s: %w", table, ErrNotFound)
	}
	return nil
}

// Get reads the row with the given id.
func Get[T Row](ctx context.Context, q Q, id string) (T, error) {
	table, cols := columnsOf[T]()
	var v T
	stmt := q.Rebind(fmt.Sprintf("SELECT %s FROM %s WHERE id = ?", strings.Join(cols, ", "), table))
	if err := sqlx.GetContext(ctx, q, &v, stmt, id); err != nil {
		return v, fmt.Errorf("get %s %s: %w", table, id, mapError(err))
	}
	return v, nil
}

// Delete removes the row with the given id; ErrReferenced when other rows
// still point at it.
func Delete[T Row](ctx context.Context, q Q, id string) error {
	var zero T
	table := zero.Table()
	res, err := q.ExecContext(ctx, q.Rebind("DELETE FROM "+table+" WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", table, id, mapError(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("delete %s %s: %w", table, id, ErrNotFound)
	}
	return nil
}

// Filter narrows a list. Column names come from code, never from a request;
// only the values do.
type Filter struct {
	// Eq keeps rows whose column equals the value; empty values are ignored.
	Eq map[string]string
	// In keeps rows whose column is one of the values. A nil slice means
	// no restriction; an empty non-nil slice matches nothing.
	In map[string][]string
	// Search keeps rows where any of SearchColumns contains it, ignoring case.
	Search        string
	SearchColumns []string
	// Limit is the page size (default 50, at most 500); Cursor is the
	// last id of the previous page.
	Limit  int
	Cursor string
	// Desc lists newest first.
	Desc bool
	// Conds are further conditions, ANDed. Their SQL comes from code,
	// never from a request (values go in Args, with ? placeholders).
	Conds []Cond
}

// Cond is one SQL condition of a Filter.
type Cond struct {
	SQL  string
	Args []any
}

// MaxPage is the largest page a list returns.
const MaxPage = 500

// List reads one page of rows in id (creation) order and returns the
// cursor of the next page, "" at the end.
func List[T Row](ctx context.Context, q Q, f Filter) ([]T, string, error) {
	table, cols := columnsOf[T]()
	var (
		where []string
		args  []any
	)
	for col, val := range f.Eq {
		if val == "" {
			continue
		}
		where = append(where, col+" = ?")
		args = append(args, val)
	}
	for col, vals := range f.In {
		if vals == nil {
			continue
		}
		if len(vals) == 0 {
			where = append(where, "1 = 0")
			continue
		}
		where = append(where, col+" IN (?"+strings.Repeat(", ?", len(vals)-1)+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	if f.Search != "" && len(f.SearchColumns) > 0 {
		pattern := "%" + escapeLike(strings.ToLower(f.Search)) + "%"
		ors := make([]string, len(f.SearchColumns))
		for i, c := range f.SearchColumns {
			ors[i] = "LOWER(" + c + `) LIKE ? ESCAPE '\'`
			args = append(args, pattern)
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	for _, c := range f.Conds {
		where = append(where, "("+c.SQL+")")
		args = append(args, c.Args...)
	}
	order, cmp := "ASC", ">"
	if f.Desc {
		order, cmp = "DESC", "<"
	}
	if f.Cursor != "" {
		where = append(where, "id "+cmp+" ?")
		args = append(args, f.Cursor)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxPage)
	stmt := "SELECT " + strings.Join(cols, ", ") + " FROM " + table
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += fmt.Sprintf(" ORDER BY id %s LIMIT %d", order, limit+1)
	var items []T
	if err := sqlx.SelectContext(ctx, q, &items, q.Rebind(stmt), args...); err != nil {
		return nil, "", fmt.Errorf("list %s: %w", table, mapError(err))
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = idOf(items[limit-1])
	}
	if items == nil {
		items = []T{}
	}
	return items, next, nil
}

func idOf(v any) string {
	return reflect.ValueOf(v).FieldByName("ID").String()
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// IsNotFound reports whether err means the row does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
