package objstore

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest key in bytes, S3's limit.
const MaxKeyLen = 1024

// ValidateKey checks an object key. A key is valid UTF-8 of 1 to MaxKeyLen
// bytes, made of segments separated by "/"; no segment is empty, "." or
// "..", so there is no leading or trailing "/" and no "//"; and it has no
// backslash, NUL or other control character. Such a key means the same on
// every backend and, joined to a directory, never leaves it. The error
// wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if err := validateKey(key); err != nil {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, err)
	}
	return nil
}

// keyError is the reason a key is invalid.
type keyError string

func (e keyError) Error() string { return string(e) }

func validateKey(key string) error {
	switch {
	case key == "":
		return keyError("empty")
	case len(key) > MaxKeyLen:
		return keyError(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return keyError("not valid UTF-8")
	}
	for _, r := range key {
		switch {
		case r == '\\':
			return keyError("has a backslash")
		case unicode.IsControl(r): // NUL, C0, DEL and C1
			return keyError(fmt.Sprintf("has control character %U", r))
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return keyError("has an empty segment (leading, trailing or double /)")
		case ".", "..":
			return keyError(fmt.Sprintf("has a %q segment", seg))
		}
	}
	return nil
}
