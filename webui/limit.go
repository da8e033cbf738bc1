package webui

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// attemptLimiter rate-limits sign-in attempts (password, pairing code,
// reset) per client address: a burst of attemptBurst, then one every
// attemptEvery. The table is bounded; entries idle for an hour go first.
type attemptLimiter struct {
	now   func() time.Time
	every time.Duration
	burst int

	mu sync.Mutex
	m  map[string]*limEntry
}

type limEntry struct {
	lim      *rate.Limiter
	last     time.Time
	inflight bool
}

const (
	attemptBurst = 5
	attemptEvery = 20 * time.Second
	maxLimiters  = 4096
)

func newAttemptLimiter(now func() time.Time) *attemptLimiter {
	return &attemptLimiter{now: now, every: attemptEvery, burst: attemptBurst, m: map[string]*limEntry{}}
}

// allow starts an attempt for addr, or says how long to wait. Only
// failures cost: done(true) takes one of the address's attempts, done(false)
// none, so an owner who signs in often is never slowed while a guesser is.
// An address has one attempt in flight at a time, so parallel guesses
// cannot all pass before the first failure counts.
func (l *attemptLimiter) allow(addr string) (done func(failed bool), allowed bool, wait time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[addr]
	if e == nil {
		if len(l.m) >= maxLimiters {
			l.sweepLocked(now)
		}
		e = &limEntry{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.m[addr] = e
	}
	e.last = now
	if e.inflight {
		return nil, false, time.Second
	}
	if tok := e.lim.TokensAt(now); tok < 1 {
		return nil, false, time.Duration((1 - tok) * float64(l.every))
	}
	e.inflight = true
	return func(failed bool) {
		l.mu.Lock()
		defer l.mu.Unlock()
		e.inflight = false
		if failed {
			e.lim.AllowN(l.now(), 1)
		}
	}, true, 0
}

// sweepLocked drops idle entries, or if none is idle, the oldest.
func (l *attemptLimiter) sweepLocked(now time.Time) {
	var oldest string
	var ot time.Time
	for k, e := range l.m {
		if now.Sub(e.last) > time.Hour {
			delete(l.m, k)
			continue
		}
		if oldest == "" || e.last.Before(ot) {
			oldest, ot = k, e.last
		}
	}
	if len(l.m) >= maxLimiters {
		delete(l.m, oldest)
	}
}

// clientAddr is the address a request came from (never a header a client
// can set: the box is not behind a proxy).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limitKey is what attempts are counted by: the IPv4 address, or the /64
// of an IPv6 one (a device picks new addresses within its /64 at will).
func limitKey(r *http.Request) string {
	a := clientAddr(r)
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return a
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
