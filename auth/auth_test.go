package auth

import (
	"strings"
	"testing"
	"time"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash %q is not argon2id", h)
	}
	if err := CheckPassword("correct horse", h); err != nil {
		t.Fatalf("right password rejected: %v", err)
	}
	if err := CheckPassword("wrong horse", h); err != ErrBadPassword {
		t.Fatalf("wrong password: got %v, want ErrBadPassword", err)
	}
	if err := CheckPassword("x", "not a hash"); err == nil || err == ErrBadPassword {
		t.Fatalf("garbage hash: got %v, want a format error", err)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
}

func TestSecrets(t *testing.T) {
	s1, h1 := NewSecret()
	s2, _ := NewSecret()
	if s1 == s2 || !strings.HasPrefix(s1, TokenPrefix) || len(s1) < 40 {
		t.Fatalf("weak or repeated secrets: %q %q", s1, s2)
	}
	if HashSecret(s1) != h1 || strings.Contains(h1, s1) {
		t.Fatal("hash does not match or contains the secret")
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(time.Hour, 3)
	for i := range 3 {
		if !l.Allow("1.2.3.4") {
			t.Fatalf("attempt %d refused within burst", i)
		}
	}
	if l.Allow("1.2.3.4") {
		t.Fatal("attempt past burst allowed")
	}
	if !l.Allow("5.6.7.8") {
		t.Fatal("another key was limited too")
	}
	l.sweep(time.Now().Add(4 * time.Hour))
	if len(l.entries) != 0 {
		t.Fatalf("idle keys kept: %d", len(l.entries))
	}
}
