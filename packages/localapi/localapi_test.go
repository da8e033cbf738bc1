package localapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
)

func TestAuthAndJSON(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	s := NewServer(tok, nil)
	s.HandleFunc("POST /v1/echo", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ A int }
		if err := ReadJSON(r, 1024, &in); err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		WriteJSON(w, http.StatusOK, in)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, ln, s) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()

	var out struct{ A int }
	good := &Client{Base: base, Token: tok}
	if err := good.Do(ctx, "POST", "/v1/echo", map[string]int{"A": 5}, &out); err != nil || out.A != 5 {
		t.Fatalf("echo = %+v, %v", out, err)
	}
	var apiErr *APIError
	for _, c := range []*Client{{Base: base}, {Base: base, Token: tok[:31] + "x"}} {
		err := c.Do(ctx, "POST", "/v1/echo", map[string]int{"A": 5}, &out)
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
			t.Fatalf("bad token: %v, want 401", err)
		}
	}
	err = good.Do(ctx, "POST", "/v1/echo", map[string]string{"B": "x"}, &out)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("unknown field: %v, want 400", err)
	}
	err = good.Do(ctx, "GET", "/v1/nothing", nil, nil)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("unknown path: %v, want 404", err)
	}
}
