// Package localapi is the box's local HTTP/JSON API, the one door the CLI,
// the web UI and scripts use. Every request must carry the box's bearer
// token (kept in its data directory); anything else gets 401. The package
// also holds the typed client (Client) that the CLI, the web UI and the
// tests use; its request and answer types are packages/apitype. Neither
// links libp2p or badger, so `oepc` stays small.
package localapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/apitype"
)

// Server authenticates requests and routes them to handlers.
type Server struct {
	mux   *http.ServeMux
	token string
	log   *slog.Logger
}

// NewServer makes a server that accepts token.
func NewServer(token string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{mux: http.NewServeMux(), token: token, log: log}
}

// Handle registers h for pattern (net/http ServeMux syntax).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleFunc registers f for pattern.
func (s *Server) HandleFunc(pattern string, f http.HandlerFunc) { s.mux.HandleFunc(pattern, f) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="oepc"`)
		WriteError(w, http.StatusUnauthorized, errors.New("missing or wrong API token"))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve serves h on ln until ctx ends, then shuts down within a few seconds.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
}

// Error is the JSON body of every failed request.
type Error = apitype.Error

// WriteJSON answers v with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// WriteError answers err with status code.
func WriteError(w http.ResponseWriter, code int, err error) {
	WriteJSON(w, code, Error{Error: err.Error()})
}

// ReadJSON decodes a request body of at most max bytes into v.
func ReadJSON(r *http.Request, max int64, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	return nil
}

// Client calls a box's local API.
type Client struct {
	Base  string // e.g. http://127.0.0.1:7070
	Token string
	HTTP  *http.Client
}

// APIError is a non-2xx answer.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("box answered %d: %s", e.Status, e.Message)
}

// Do sends a JSON request (in may be nil) and decodes the answer into out
// (which may be nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	resp, err := c.Send(ctx, method, path, "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bad answer from box: %w", err)
	}
	return nil
}

// Send sends a raw request and returns the response of a 2xx answer; the
// caller closes its body. Other answers become *APIError.
func (c *Client) Send(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	return c.SendSized(ctx, method, path, contentType, body, -1)
}

// SendSized is Send for a body of a known size (-1: unknown). A known size
// goes out with a Content-Length rather than in chunks, so the box reads it
// in large pieces, and an *os.File body is sent by the kernel (sendfile)
// without passing through this process.
func (c *Client) SendSized(ctx context.Context, method, path, contentType string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if size >= 0 && body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the box at %s: %w", c.Base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}
