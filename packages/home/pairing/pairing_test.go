package pairing

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestPairing(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	p := New(Config{Now: c.now})
	if err := p.Redeem("a", "1234-5678"); !errors.Is(err, ErrNoCode) {
		t.Fatalf("before any code: %v", err)
	}
	code, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	if len(code.Token) != 43 || len(code.Digits) != 9 || code.Digits[4] != '-' || !code.Expires.Equal(c.t.Add(5*time.Minute)) {
		t.Fatalf("code %+v", code)
	}
	// The token works once.
	if err := p.Redeem("a", code.Token); err != nil {
		t.Fatal(err)
	}
	if err := p.Redeem("a", code.Token); !errors.Is(err, ErrNoCode) {
		t.Fatalf("second use: %v", err)
	}
	// The digits work, with or without the dash.
	code, _ = p.Open()
	if err := p.Redeem("b", strings.ReplaceAll(code.Digits, "-", "")); err != nil {
		t.Fatal(err)
	}
	// Expired after 5 minutes.
	code, _ = p.Open()
	c.t = c.t.Add(5*time.Minute + time.Second)
	if err := p.Redeem("c", code.Token); !errors.Is(err, ErrNoCode) {
		t.Fatalf("expired: %v", err)
	}
	if _, ok := p.Current(); ok {
		t.Fatal("an expired code is current")
	}
}

func TestFiveWrongReplaceTheCode(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	p := New(Config{Now: c.now, PerSource: 100})
	code, _ := p.Open()
	for i := 0; i < 4; i++ {
		if err := p.Redeem(fmt.Sprint("src", i), "0000-000"+fmt.Sprint(i)); !errors.Is(err, ErrWrong) {
			t.Fatalf("wrong try %d: %v", i, err)
		}
	}
	if cur, _ := p.Current(); cur.Token != code.Token {
		t.Fatal("replaced before the fifth wrong try")
	}
	p.Redeem("src5", "not a code")
	cur, ok := p.Current()
	if !ok || cur.Token == code.Token || cur.Digits == code.Digits && cur.Token == code.Token {
		t.Fatalf("after 5 wrong tries the code is still %+v", cur)
	}
	if err := p.Redeem("x", code.Token); !errors.Is(err, ErrWrong) {
		t.Fatalf("the replaced token still works: %v", err)
	}
	if err := p.Redeem("x", cur.Digits); err != nil {
		t.Fatalf("the new code: %v", err)
	}
}

func TestRateLimitPerSource(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	p := New(Config{Now: c.now, PerSource: 3, MaxWrong: 1000, MaxSources: 2})
	code, _ := p.Open()
	for i := 0; i < 3; i++ {
		p.Redeem("10.0.0.9", "bad")
	}
	if err := p.Redeem("10.0.0.9", code.Token); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("fourth try in the window: %v", err)
	}
	// Others are not held up, and the table stays bounded.
	p.Redeem("10.0.0.10", "bad")
	p.Redeem("10.0.0.11", "bad")
	if len(p.sources) > 2 {
		t.Fatalf("%d sources kept, bound 2", len(p.sources))
	}
	c.t = c.t.Add(time.Minute)
	if err := p.Redeem("10.0.0.9", code.Token); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestCodesAreRandom(t *testing.T) {
	p := New(Config{})
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		c, err := p.Open()
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.Token] {
			t.Fatal("a token repeated")
		}
		seen[c.Token] = true
	}
}
