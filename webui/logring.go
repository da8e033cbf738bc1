package webui

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogRing keeps the last lines a process logged, for the System page. It
// is bounded: the oldest line goes when a new one comes. Attributes that
// carry secrets (a pairing code, a token, a password) are kept out: the
// System page is read over the network, and a fresh pairing code is for
// someone at the box.
type LogRing struct {
	mu    sync.Mutex
	lines []LogLine
	next  int
	full  bool
}

// LogLine is one logged event.
type LogLine struct {
	Time    time.Time
	Level   slog.Level
	Message string
	Attrs   string
}

// NewLogRing keeps the last n lines.
func NewLogRing(n int) *LogRing {
	if n < 1 {
		n = 1
	}
	return &LogRing{lines: make([]LogLine, n)}
}

// Lines returns the kept lines, oldest first.
func (l *LogRing) Lines() []LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.full {
		return append([]LogLine(nil), l.lines[:l.next]...)
	}
	return append(append([]LogLine(nil), l.lines[l.next:]...), l.lines[:l.next]...)
}

func (l *LogRing) add(ln LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines[l.next] = ln
	l.next++
	if l.next == len(l.lines) {
		l.next, l.full = 0, true
	}
}

// Handler returns a slog.Handler that hands every record to next and keeps
// those at Info and above in the ring.
func (l *LogRing) Handler(next slog.Handler) slog.Handler {
	return &ringHandler{ring: l, next: next}
}

type ringHandler struct {
	ring   *LogRing
	next   slog.Handler
	prefix string // pre-formatted attrs from WithAttrs
	group  string
}

func (h *ringHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelInfo || h.next.Enabled(ctx, lv)
}

func (h *ringHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		var b strings.Builder
		b.WriteString(h.prefix)
		r.Attrs(func(a slog.Attr) bool { writeAttr(&b, h.group, a); return true })
		h.ring.add(LogLine{Time: r.Time, Level: r.Level, Message: r.Message, Attrs: strings.TrimSpace(b.String())})
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range as {
		writeAttr(&b, h.group, a)
	}
	return &ringHandler{ring: h.ring, next: h.next.WithAttrs(as), prefix: b.String(), group: h.group}
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &ringHandler{ring: h.ring, next: h.next.WithGroup(name), prefix: h.prefix, group: g}
}

// secretKeys are attribute keys whose values never enter the ring.
var secretKeys = map[string]bool{"code": true, "token": true, "password": true, "pairing_code": true, "api_token": true, "gokrazy_password": true}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			writeAttr(b, key, g)
		}
		return
	}
	v := a.Value.String()
	if secretKeys[strings.ToLower(a.Key)] {
		v = "(shown on the box's console only)"
	}
	if len(v) > 300 {
		v = v[:300] + "…"
	}
	fmt.Fprintf(b, " %s=%s", key, quoteIfNeeded(v))
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \"=\n\t") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
