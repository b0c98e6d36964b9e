package sip

import (
	"sync"
	"time"
)

// maxFailEntries bounds the limiter's memory: an attacker with many
// addresses can use up the table (new addresses then go untracked) but
// never the process's memory.
const maxFailEntries = 1 << 16

// failLimiter counts authentication failures per source IP in fixed
// windows. An IP with more than limit failures in one window is blocked
// until a window has passed since it crossed the limit.
type failLimiter struct {
	limit  int // negative: never block
	window time.Duration

	mu  sync.Mutex
	ips map[string]*failEntry
}

type failEntry struct {
	start        time.Time // of the current counting window
	count        int
	blockedUntil time.Time
}

func newFailLimiter(limit int, window time.Duration) *failLimiter {
	return &failLimiter{limit: limit, window: window, ips: make(map[string]*failEntry)}
}

// blocked reports whether ip is refused without a challenge now.
func (l *failLimiter) blocked(ip string, now time.Time) bool {
	if l.limit < 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.ips[ip]
	return e != nil && now.Before(e.blockedUntil)
}

// fail records a failure from ip and reports whether it just crossed the
// limit (so the caller logs the block once, not once per attempt).
func (l *failLimiter) fail(ip string, now time.Time) (crossed bool) {
	if l.limit < 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.ips[ip]
	if e == nil {
		if len(l.ips) >= maxFailEntries {
			l.sweepLocked(now)
			if len(l.ips) >= maxFailEntries {
				return false
			}
		}
		e = &failEntry{start: now}
		l.ips[ip] = e
	}
	if now.Sub(e.start) >= l.window {
		e.start, e.count = now, 0
	}
	e.count++
	if e.count > l.limit && !now.Before(e.blockedUntil) {
		e.blockedUntil = now.Add(l.window)
		return true
	}
	return false
}

// sweep forgets entries that neither count nor block any more.
func (l *failLimiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
}

func (l *failLimiter) sweepLocked(now time.Time) {
	for ip, e := range l.ips {
		if now.Sub(e.start) >= l.window && !now.Before(e.blockedUntil) {
			delete(l.ips, ip)
		}
	}
}
