package box

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/home/mdns"
	"oepc.dev/oepcos/webui"
)

// TestFollowHome: homed's events (a switch pressed by hand) reach a web UI
// tab's event stream as "home" events, also after homed's stream breaks
// (then a "lost" event first tells the tab to reload).
func TestFollowHome(t *testing.T) {
	dir, err := os.MkdirTemp("", "followhome")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A homed that sends one event per connection, then ends the stream.
	socket := filepath.Join(dir, "h.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != homeapi.Prefix+"events" {
			http.NotFound(w, r)
			return
		}
		n := conns.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		// Wait for the tab's stream to be open before the first event.
		time.Sleep(300 * time.Millisecond)
		fmt.Fprintf(w, "id: %d\nevent: state\ndata: {\"seq\":%d,\"kind\":\"state\",\"device\":\"Porch %d\",\"state\":{\"state\":\"on\",\"level\":255},\"source\":\"hand\"}\n\n", n, n, n)
		w.(http.Flusher).Flush()
	})}
	go hs.Serve(ln)
	defer hs.Close()

	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	ui, err := webui.New(webui.Config{DataDir: filepath.Join(dir, "webui"), PairingFile: filepath.Join(dir, "pairing.code"), API: api, Token: strings.Repeat("t", 64)})
	if err != nil {
		t.Fatal(err)
	}
	defer ui.Close()
	srv := httptest.NewServer(ui)
	defer srv.Close()
	tok, _, err := ui.Auth().NewPhoneSession("phone", "127.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ui/events", nil)
	req.AddCookie(&http.Cookie{Name: "oepc_session", Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	b := &Box{UI: ui, Log: slog.New(slog.DiscardHandler)}
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { followHome(fctx, b, homeapi.NewUnix(socket)); close(done) }()
	defer func() { fcancel(); <-done }()

	var got []string
	sc := bufio.NewScanner(resp.Body)
	kind := ""
	for sc.Scan() && len(got) < 3 {
		l := sc.Text()
		if k, ok := strings.CutPrefix(l, "event: "); ok {
			kind = k
		}
		if d, ok := strings.CutPrefix(l, "data: "); ok && kind == "home" {
			switch {
			case strings.Contains(d, `"kind":"lost"`):
				got = append(got, "lost")
			case strings.Contains(d, `"device":"Porch`):
				i := strings.Index(d, `"device":"`)
				got = append(got, d[i+10:i+17])
			}
		}
	}
	if strings.Join(got, ",") != "Porch 1,lost,Porch 2" || sc.Err() != nil {
		t.Fatalf("home events on the tab's stream: %q %v", got, sc.Err())
	}
}

// TestAdvertisePaired: the mDNS TXT says paired=yes once the owner has set
// the web UI's password, and carries no secret.
func TestAdvertisePaired(t *testing.T) {
	dir := t.TempDir()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	ui, err := webui.New(webui.Config{DataDir: filepath.Join(dir, "webui"), PairingFile: filepath.Join(dir, "pairing.code"), API: api, Token: strings.Repeat("t", 64)})
	if err != nil {
		t.Fatal(err)
	}
	defer ui.Close()
	b := &Box{UI: ui, Cfg: Config{Name: "kitchen"}, Log: slog.New(slog.DiscardHandler)}
	cfg := advertiseConfig(b, 80, "12D3KooWbox")
	if cfg.Paired == nil || cfg.Paired() || cfg.Instance != "OEPC kitchen" {
		t.Fatalf("before the password: %+v", cfg)
	}
	if err := ui.Auth().SetPassword("a long enough password"); err != nil {
		t.Fatal(err)
	}
	txt := strings.Join(mdns.TXT(cfg.ID, cfg.Version, cfg.Paired()), " ")
	code, _ := os.ReadFile(filepath.Join(dir, "pairing.code"))
	if !strings.Contains(txt, "paired=yes") || strings.Contains(txt, strings.TrimSpace(string(code))) || strings.Contains(txt, strings.Repeat("t", 64)) {
		t.Fatalf("TXT after the password: %s", txt)
	}
}
