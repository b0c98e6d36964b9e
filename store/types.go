package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// NewID returns a time-ordered id (UUIDv7): sorting by id is sorting by
// creation, so list cursors are simply the last id seen.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// Now is the database's notion of the current time: UTC with the
// microsecond precision PostgreSQL keeps, so a value read back compares
// equal to the one written.
func Now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// OptionalID is a reference that may be absent: "" in Go and JSON, NULL in
// the database (so foreign keys hold).
type OptionalID string

// Value implements driver.Valuer.
func (o OptionalID) Value() (driver.Value, error) {
	if o == "" {
		return nil, nil
	}
	return string(o), nil
}

// Scan implements sql.Scanner.
func (o *OptionalID) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*o = ""
	case string:
		*o = OptionalID(v)
	case []byte:
		*o = OptionalID(v)
	default:
		return fmt.Errorf("scan optional id from %T", src)
	}
	return nil
}

// StringList is a list of strings kept as a JSON array in one column.
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l = StringList{}
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan string list from %T", src)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("scan string list: %w", err)
	}
	if out == nil {
		out = []string{}
	}
	*l = out
	return nil
}

// Contains reports whether s is in the list.
func (l StringList) Contains(s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
