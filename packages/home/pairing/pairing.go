// Package pairing issues the one-time codes a phone pairs with: a
// single-use token of 256 bits (for the QR code the owner's web UI or the
// TV shows) and a short numeric code of 8 digits to type instead, both
// valid for 5 minutes. A wrong try is counted against the code: after 5 the
// code is replaced (the old one, QR and digits, stops working), so the
// 10^8 numeric space cannot be walked. Tries are also rate-limited per
// source (an IP address), in a bounded table. What the caller does with a
// successful pairing (a long-lived household member session) is its own.
package pairing

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// Code is what the owner's screen shows.
type Code struct {
	Token   string    `json:"token"`   // 43 base64url characters, 256 bits: the QR code's
	Digits  string    `json:"digits"`  // "1234-5678": to type
	Expires time.Time `json:"expires"` // 5 minutes after it was made
}

var (
	// ErrWrong: the code is not the current one (or it expired, or was used).
	ErrWrong = errors.New("pairing: wrong or expired code; ask the owner for the code on the screen")
	// ErrRateLimited: too many tries from this source; wait.
	ErrRateLimited = errors.New("pairing: too many tries; wait a minute and try again")
	// ErrNoCode: no code is being shown.
	ErrNoCode = errors.New("pairing: no pairing code is open; the owner starts pairing first")
)

// Config tunes a Pairer. The zero value is right.
type Config struct {
	TTL      time.Duration // default 5 minutes
	MaxWrong int           // wrong tries before the code is replaced; default 5
	// PerSource tries are allowed per source per Window (defaults 10, 1
	// minute); the table holds at most MaxSources sources (default 1024;
	// when full, the oldest window is dropped).
	PerSource  int
	Window     time.Duration
	MaxSources int
	Now        func() time.Time
}

// Pairer holds the current code.
type Pairer struct {
	cfg Config

	mu      sync.Mutex
	cur     *Code
	wrong   int
	sources map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// New returns a Pairer with no code open.
func New(cfg Config) *Pairer {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.MaxWrong <= 0 {
		cfg.MaxWrong = 5
	}
	if cfg.PerSource <= 0 {
		cfg.PerSource = 10
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pairer{cfg: cfg, sources: map[string]*window{}}
}

func newCode(now time.Time, ttl time.Duration) (*Code, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		return nil, err
	}
	d := fmt.Sprintf("%08d", n.Int64())
	return &Code{Token: base64.RawURLEncoding.EncodeToString(b), Digits: d[:4] + "-" + d[4:], Expires: now.Add(ttl)}, nil
}

// Open makes a new code (replacing any open one) and returns it.
func (p *Pairer) Open() (Code, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := newCode(p.cfg.Now(), p.cfg.TTL)
	if err != nil {
		return Code{}, err
	}
	p.cur, p.wrong = c, 0
	return *c, nil
}

// Current is the open code, for the owner's screen; false when none is
// open (never opened, used, or expired).
func (p *Pairer) Current() (Code, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil || !p.cfg.Now().Before(p.cur.Expires) {
		return Code{}, false
	}
	return *p.cur, true
}

// Close withdraws the open code.
func (p *Pairer) Close() {
	p.mu.Lock()
	p.cur = nil
	p.mu.Unlock()
}

func normalizeDigits(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		} else if s[i] != '-' && s[i] != ' ' {
			return ""
		}
	}
	return string(out)
}

// Redeem checks a try from source (the token or the digits). On success
// the code is used up: nobody can pair with it again.
func (p *Pairer) Redeem(source, try string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	if !p.allow(source, now) {
		return ErrRateLimited
	}
	if p.cur == nil || !now.Before(p.cur.Expires) {
		p.cur = nil
		return ErrNoCode
	}
	tokOK := len(try) == len(p.cur.Token) && subtle.ConstantTimeCompare([]byte(try), []byte(p.cur.Token)) == 1
	want := normalizeDigits(p.cur.Digits)
	got := normalizeDigits(try)
	digOK := len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	if tokOK || digOK {
		p.cur = nil
		return nil
	}
	p.wrong++
	if p.wrong >= p.cfg.MaxWrong {
		// Replace the code: the owner's screen shows the new one.
		if c, err := newCode(now, p.cfg.TTL); err == nil {
			p.cur, p.wrong = c, 0
		} else {
			p.cur = nil
		}
	}
	return ErrWrong
}

// allow counts a try from source in its window.
func (p *Pairer) allow(source string, now time.Time) bool {
	w := p.sources[source]
	if w == nil || now.Sub(w.start) >= p.cfg.Window {
		if w == nil && len(p.sources) >= p.cfg.MaxSources {
			var oldest string
			var ot time.Time
			for k, v := range p.sources {
				if oldest == "" || v.start.Before(ot) {
					oldest, ot = k, v.start
				}
			}
			delete(p.sources, oldest)
		}
		w = &window{start: now}
		p.sources[source] = w
	}
	w.n++
	return w.n <= p.cfg.PerSource
}
