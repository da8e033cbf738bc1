package webui

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"oepc.dev/oepcos/packages/localapi"
)

// The in-process client streams both ways and keeps the API's statuses,
// and a handler that aborts mid-answer is an error, not a short body.
func TestHandlerTransport(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			if r.Header.Get("Authorization") != "Bearer tok" {
				http.Error(w, `{"error":"no token"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Length", r.Header.Get("X-Len"))
			io.Copy(w, r.Body)
		case "/abort":
			w.Write([]byte("partial"))
			panic(http.ErrAbortHandler)
		default:
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":"exists"}`))
		}
	})
	c := &localapi.Client{Base: "http://box", Token: "tok", HTTP: &http.Client{Transport: handlerTransport{h: h}}}
	ctx := context.Background()
	// 8 MiB through a pipe: never held whole by the transport.
	body := strings.Repeat("0123456789abcdef", 1<<19)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://box/echo", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("X-Len", "8388608")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || string(got) != body || resp.ContentLength != int64(len(body)) {
		t.Fatalf("echo: %d bytes, length %d, %v", len(got), resp.ContentLength, err)
	}
	var ae *localapi.APIError
	if err := c.Mkdir(ctx, "/x"); !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Message != "exists" {
		t.Fatalf("conflict: %v", err)
	}
	resp, err = c.Send(ctx, "GET", "/abort", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("an aborted answer read as whole")
	}
}

func TestJoinRefusesEscapes(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", `a\b`, "a\x00b", "a\nb"} {
		if _, err := join("/d", name); err == nil {
			t.Errorf("join accepted %q", name)
		}
	}
	if p, err := join("/d", "photo (2).jpg"); err != nil || p != "/d/photo (2).jpg" {
		t.Fatalf("join: %q %v", p, err)
	}
}

// Errors say what to do.
func TestFriendlyErrors(t *testing.T) {
	for _, c := range []struct {
		status int
		msg    string
		friend string
		want   string
	}{
		{412, "cloud: too few boxes: 4+2 needs 6 boxes, 2 available", "", "place anyway"},
		{507, "disk full", "", "free space"},
		{503, "not enough shards", "", "try again when"},
		{500, "failed to dial 12D3: no addresses", "bob", "bob's box is offline"},
	} {
		err := friendly(&localapi.APIError{Status: c.status, Message: c.msg}, c.friend)
		var ue *UserError
		if !errors.As(err, &ue) || ue.Status != c.status || !strings.Contains(ue.Msg, c.want) {
			t.Errorf("%d %q: %v", c.status, c.msg, err)
		}
	}
}
