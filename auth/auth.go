// Package auth holds the secrets side of logging in: password hashing,
// token secrets and the login rate limiter. It knows nothing of HTTP.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/alexedwards/argon2id"
)

// passwordParams are argon2id's cost settings: 64 MiB and 1 pass is
// RFC 9106's second recommended option and takes tens of milliseconds.
var passwordParams = argon2id.Params{
	Memory:      64 * 1024,
	Iterations:  1,
	Parallelism: 2,
	SaltLength:  16,
	KeyLength:   32,
}

// ErrBadPassword means the password does not match the hash.
var ErrBadPassword = errors.New("wrong password")

// HashPassword returns an argon2id PHC string for the password.
func HashPassword(password string) (string, error) {
	h, err := argon2id.CreateHash(password, &passwordParams)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// CheckPassword compares a password with a hash in constant time.
func CheckPassword(password, hash string) error {
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	if !ok {
		return ErrBadPassword
	}
	return nil
}

// dummyHash is compared against when the user does not exist, so a wrong
// username costs as long as a wrong password and reveals nothing.
var dummyHash = sync.OnceValue(func() string {
	h, _ := argon2id.CreateHash("attendant-no-such-user", &passwordParams)
	return h
})

// BurnPasswordCheck spends the time of one password check.
func BurnPasswordCheck(password string) {
	_, _ = argon2id.ComparePasswordAndHash(password, dummyHash())
}

// TokenPrefix starts every secret attendant issues, so leaked tokens are
// easy to recognise in logs and secret scanners.
const TokenPrefix = "att_"

// NewSecret returns a new random token secret and the hash to store.
func NewSecret() (secret, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret)
}

// HashSecret is how a token secret is looked up: SHA-256 is enough for a
// 256-bit random secret, and it is cheap on every request.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewPassword returns a random password for the first admin.
func NewPassword() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
