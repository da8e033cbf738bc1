package localapi

import (
	"errors"
	"strings"
	"testing"
)

type event struct{ typ, data string }

func readAll(s string) ([]event, error) {
	var out []event
	err := ReadEvents(strings.NewReader(s), func(typ string, data []byte) error {
		out = append(out, event{typ, string(data)})
		return nil
	})
	return out, err
}

func TestReadEvents(t *testing.T) {
	got, err := readAll(": keep-alive\n\nevent: transfer\ndata: {\"a\":1}\n\ndata: one\ndata: two\n\nevent: x\n\ndata:nospace\n\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []event{{"transfer", `{"a":1}`}, {"message", "one\ntwo"}, {"message", "nospace"}}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: %q, want %q", i, got[i], want[i])
		}
	}
	// An event without its closing blank line is not delivered.
	if got, _ := readAll("data: cut off"); len(got) != 0 {
		t.Fatalf("cut-off event delivered: %q", got)
	}
	// An event over the bound is an error, not a buffer without end.
	if _, err := readAll("data: " + strings.Repeat("x", maxEvent+1) + "\n\n"); err == nil {
		t.Fatal("oversized event accepted")
	}
	stop := errors.New("stop")
	if err := ReadEvents(strings.NewReader("data: a\n\ndata: b\n\n"), func(string, []byte) error { return stop }); err != stop {
		t.Fatalf("fn's error: %v", err)
	}
}

func FuzzReadEvents(f *testing.F) {
	for _, s := range []string{"", "data: x\n\n", "event: transfer\ndata: {}\n\n", ": c\n\n", "data\n\n", "event:\ndata:\n\n", "\n\n\n", "data: a\ndata: b\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		err := ReadEvents(strings.NewReader(s), func(typ string, data []byte) error {
			if typ == "" || len(data) > maxEvent {
				t.Fatalf("event %q with %d bytes", typ, len(data))
			}
			n++
			return nil
		})
		if err == nil && n > strings.Count(s, "\n") {
			t.Fatalf("%d events from %d lines", n, strings.Count(s, "\n"))
		}
	})
}
