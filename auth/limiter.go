package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter rate-limits login attempts per key (a client address, a user
// name). It forgets keys that have been idle, so it cannot grow without
// bound.
type Limiter struct {
	every time.Duration
	burst int

	mu      sync.Mutex
	entries map[string]*limiterEntry
	swept   time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter allows burst attempts at once per key, then one per every.
func NewLimiter(every time.Duration, burst int) *Limiter {
	return &Limiter{every: every, burst: burst, entries: map[string]*limiterEntry{}}
}

// Allow reports whether one more attempt for key may go ahead now.
func (l *Limiter) Allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		l.sweep(now)
	}
	e, ok := l.entries[key]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.entries[key] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}

// sweep drops keys idle long enough to have refilled completely.
func (l *Limiter) sweep(now time.Time) {
	idle := l.every * time.Duration(l.burst)
	for k, e := range l.entries {
		if now.Sub(e.seen) > idle {
			delete(l.entries, k)
		}
	}
	l.swept = now
}
