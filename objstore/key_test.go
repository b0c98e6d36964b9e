package objstore

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidateKey(t *testing.T) {
	valid := []string{
		"a", "a/b", "clips/cam-1/2026-01-02T03:04:05Z.mp4", "..a", "a..", "a/.b/c", "...", "a b",
		"ünïcødé/ключ", "a@b+c=d", strings.Repeat("k", MaxKeyLen),
	}
	for _, k := range valid {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	invalid := []string{
		"", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/./b", "../a", "a/../b", "a/..",
		`a\b`, "a\x00", "a\nb", "a\rb", "\x1b[31m", "a\x7f", "a\u0085", "\xff", strings.Repeat("k", MaxKeyLen+1),
	}
	for _, k := range invalid {
		if err := ValidateKey(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

// FuzzValidateKey checks that every key ValidateKey accepts is canonical
// and that the local store maps it to a path inside its directory, at the
// key's own relative path.
func FuzzValidateKey(f *testing.F) {
	for _, seed := range []string{
		"a", "a/b/c", "../x", "a/../../b", "/etc/passwd", `..\..\x`, "a//b", "a/./b", ".", "..",
		"a\x00b", "ok/…/ünï", "a/", "\u202e", "C:/x", "C:\\x", "~/x", "$HOME", "a/.../b",
	} {
		f.Add(seed)
	}
	root := f.TempDir()
	l, err := NewLocal(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ValidateKey(%q) = %v, not ErrInvalidKey", key, err)
			}
			return
		}
		switch {
		case key == "" || len(key) > MaxKeyLen:
			t.Fatalf("accepted %q: bad length", key)
		case !utf8.ValidString(key):
			t.Fatalf("accepted %q: not UTF-8", key)
		case strings.ContainsRune(key, '\\'):
			t.Fatalf("accepted %q: backslash", key)
		case strings.HasPrefix(key, "/") || key == ".." || strings.HasPrefix(key, "../"):
			t.Fatalf("accepted %q: escapes", key)
		case path.Clean(key) != key:
			t.Fatalf("accepted %q: not canonical (cleans to %q)", key, path.Clean(key))
		}
		for _, r := range key {
			if unicode.IsControl(r) {
				t.Fatalf("accepted %q: control character %U", key, r)
			}
		}
		data, meta, err := l.paths(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("paths(%q) = %v, not ErrInvalidKey", key, err)
			}
			return // a segment too long for a file name
		}
		for _, pair := range [][2]string{{l.data, data}, {l.meta, meta}} {
			base, p := pair[0], pair[1]
			rel, err := filepath.Rel(base, p)
			if err != nil || !filepath.IsLocal(rel) {
				t.Fatalf("key %q maps to %q, outside %q", key, p, base)
			}
			if filepath.ToSlash(rel) != key {
				t.Fatalf("key %q maps to %q, not its own path", key, rel)
			}
			if !strings.HasPrefix(p, root+string(filepath.Separator)) {
				t.Fatalf("key %q maps to %q, outside the root %q", key, p, root)
			}
		}
	})
}
