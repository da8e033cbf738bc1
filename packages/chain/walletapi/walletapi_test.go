package walletapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/chain/light"
)

func call(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var e struct{ Error string }
	json.Unmarshal(w.Body.Bytes(), &e)
	return w.Code, e.Error
}

// Without a light node every route says why; bad requests are refused
// before the light node is asked.
func TestRoutesWithoutLightNode(t *testing.T) {
	s := New(Config{Off: "no genesis configured", Key: func() (ed25519.PrivateKey, error) {
		return nil, &KeyError{Status: http.StatusConflict, Err: errors.New("no recovery phrase yet")}
	}})
	mux := http.NewServeMux()
	s.Register(mux)
	for _, p := range []string{"/v1/chain/status", "/v1/chain/supernodes"} {
		if code, msg := call(t, mux, "GET", p, ""); code != http.StatusServiceUnavailable || msg != "the light node is not running: no genesis configured" {
			t.Errorf("%s: %d %q", p, code, msg)
		}
	}
	// The key is asked first: no phrase is 409 with the reason.
	if code, msg := call(t, mux, "GET", "/v1/wallet", ""); code != http.StatusConflict || !strings.Contains(msg, "recovery phrase") {
		t.Errorf("wallet: %d %q", code, msg)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x"} {
		if code, _ := call(t, mux, "GET", "/v1/wallet/history?"+q, ""); code != http.StatusBadRequest {
			t.Errorf("history %s: %d", q, code)
		}
	}
	for _, b := range []string{`{"to":"xyz","amount":1}`, `{"to":"00112233445566778899aabbccddeeff00112233","amount":0}`, `{"bogus":1}`, `not json`} {
		if code, _ := call(t, mux, "POST", "/v1/wallet/send", b); code != http.StatusBadRequest {
			t.Errorf("send %s: %d", b, code)
		}
	}
	if cs := s.Summary(); cs.Running || cs.Error != "no genesis configured" {
		t.Errorf("summary: %+v", cs)
	}
}

// A light node that cannot start (too few super nodes) is retried, and
// the reason is what the routes and the summary say.
func TestStartFailureReported(t *testing.T) {
	s := New(Config{UpdateEvery: 10 * time.Millisecond, Start: func(context.Context) (*light.Client, error) {
		return nil, errors.New("1 super nodes serve the chain; it needs a primary and at least 2 witnesses")
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for s.Summary().Error == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	mux := http.NewServeMux()
	s.Register(mux)
	if code, msg := call(t, mux, "GET", "/v1/chain/status", ""); code != http.StatusServiceUnavailable || !strings.Contains(msg, "at least 2 witnesses") {
		t.Fatalf("%d %q", code, msg)
	}
}
