package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/attendant/attendant/store"
)

// ErrorBody is every error response: {"error": {"code", "message"}}.
type ErrorBody struct {
	Detail ErrorDetail `json:"error"`
	// status is the HTTP status; not part of the body.
	status int
}

// ErrorDetail says what went wrong, for programs (code) and people
// (message, details).
type ErrorDetail struct {
	Code    string   `json:"code" doc:"Stable machine-readable code, e.g. invalid, unauthorized"`
	Message string   `json:"message"`
	Details []string `json:"details,omitempty" doc:"One line per problem, e.g. per invalid field"`
}

func (e *ErrorBody) Error() string  { return e.Detail.Message }
func (e *ErrorBody) GetStatus() int { return e.status }

var errorCodes = map[int]string{
	http.StatusBadRequest:            "invalid",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusServiceUnavailable:    "unavailable",
}

// newError builds the project's error body. Validation failures are 400
// like any other bad request: clients need one status for "fix your input".
func newError(status int, msg string, errs ...error) huma.StatusError {
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	code, ok := errorCodes[status]
	if !ok {
		code = "internal"
		if status < 500 {
			code = strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
		}
	}
	body := &ErrorBody{status: status, Detail: ErrorDetail{Code: code, Message: msg}}
	for _, err := range errs {
		if err == nil {
			continue
		}
		body.Detail.Details = append(body.Detail.Details, err.Error())
	}
	if len(body.Detail.Details) > 0 {
		body.Detail.Message = msg + ": " + strings.Join(body.Detail.Details, "; ")
	}
	return body
}

var installErrorModel sync.Once

// useErrorModel points huma's error constructors at newError. huma keeps
// them as package variables; setting them once to the same function is
// the documented way to change the error shape.
func useErrorModel() {
	installErrorModel.Do(func() {
		huma.NewError = newError
		huma.NewErrorWithContext = func(_ huma.Context, status int, msg string, errs ...error) huma.StatusError {
			return newError(status, msg, errs...)
		}
	})
}

func errBadRequest(format string, args ...any) error {
	return newError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

func errNotFound(what, id string) error {
	return newError(http.StatusNotFound, fmt.Sprintf("%s %q not found", what, id))
}

func errForbidden(msg string) error { return newError(http.StatusForbidden, msg) }

// storeError maps a store error to an API error; anything unexpected is a
// 500 whose details stay in the server log.
func (s *Server) storeError(what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, what+" not found")
	case errors.Is(err, store.ErrConflict):
		return newError(http.StatusConflict, what+" already exists (a unique field is taken)")
	case errors.Is(err, store.ErrReferenced):
		return newError(http.StatusConflict, what+" is still referenced by other records, or refers to a missing one")
	}
	s.log.Error("store failure", "what", what, "err", err)
	return newError(http.StatusInternalServerError, "internal error")
}
