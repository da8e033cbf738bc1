// Package webui is the box's web UI: sign-in with the pairing code and a
// password, then pages (System, Network, Friends, Files, ...) rendered on
// the box from embedded templates, with a little vanilla JavaScript for
// live updates (one server-sent event stream per tab) and for calls to the
// local API. No CDN, no build step: everything is in the binary (embed).
//
// A UI is an http.Handler that oepcd puts in front of its local API: a
// request with the bearer token goes straight to the API (the CLI keeps
// working); a browser's request to /v1/... is let through with a valid
// session cookie of a role allowed there. Pages load their data through
// the same API in-process (Ctx.API), so the web UI and the CLI use the
// same operations. Every state change passes net/http's
// CrossOriginProtection. See /work/notes/webui-pattern.md (the README's
// "Web UI" section) for how a page is added.
package webui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"oepc.dev/oepcos/packages/atomicfile"
	"oepc.dev/oepcos/packages/ota"
)

//go:embed templates static
var assets embed.FS

// Config is one web UI.
type Config struct {
	// DataDir holds the UI's state: auth.json (password hash, session
	// hashes), tls.crt and tls.key. On the box /perm/home/oepcd/webui.
	DataDir string
	// PairingFile holds the box's one-time pairing code (the log and the
	// TV show it); the UI replaces it with a fresh one once it is used.
	PairingFile string
	// API is the box's local API (bearer-authenticated) and Token its
	// bearer token: the UI calls the API with it for a signed-in session.
	API   http.Handler
	Token string
	// Name is the box's name (page titles, the certificate's names).
	Name string
	// Addr and TLSAddr, if set, are where Run serves the UI over HTTP and
	// HTTPS (":80" and ":443" on the box). The handler can also be served
	// elsewhere (oepcd serves it on its API address too).
	Addr, TLSAddr string
	// Listener and TLSListener, if set, are used instead of Addr and
	// TLSAddr (tests).
	Listener, TLSListener net.Listener
	// Logs is the ring of recent log lines the System page shows.
	Logs *LogRing
	// StorageDir is the file system the System page reports (/perm);
	// default DataDir.
	StorageDir string
	// Reboot reboots the box; nil: not possible here (the devnet).
	Reboot func(context.Context) error
	// OTA updates the box from an uploaded image (System page); nil: not
	// possible here (the devnet).
	OTA *ota.Updater
	// MemberAPI lists the local API path prefixes a household member's
	// session may call (the home issue adds its own); the owner may call
	// every route.
	MemberAPI []string
	// FailDelay is how long a failed sign-in waits before it answers
	// (default 1 s).
	FailDelay time.Duration
	// PollEvery is how often friends and health are checked for the live
	// event streams while a tab is open (default 2 s).
	PollEvery time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

// UI is a running web UI.
type UI struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	auth  *Auth
	lim   *attemptLimiter
	hub   *hub
	cop   *http.CrossOriginProtection
	mux   *http.ServeMux
	pages []*Page

	cert        tls.Certificate
	fingerprint string
	started     time.Time

	pairMu    sync.Mutex
	pairFails int // wrong pairing codes since the code was made

	phones *phonePairer // the codes phones pair with (phones.go)

	poll chan struct{}
	done chan struct{}
	once sync.Once
}

// New makes the UI: it opens the sign-in state and the HTTPS certificate
// (made on first use) in cfg.DataDir.
func New(cfg Config) (*UI, error) {
	if cfg.DataDir == "" || cfg.API == nil || cfg.Token == "" || cfg.PairingFile == "" {
		return nil, errors.New("webui: DataDir, PairingFile, API and Token are required")
	}
	u := &UI{cfg: cfg, log: cfg.Logger, now: cfg.Now, hub: newHub(), poll: make(chan struct{}, 1), done: make(chan struct{})}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.now == nil {
		u.now = time.Now
	}
	if u.cfg.FailDelay == 0 {
		u.cfg.FailDelay = time.Second
	}
	if u.cfg.PollEvery == 0 {
		u.cfg.PollEvery = 2 * time.Second
	}
	if u.cfg.StorageDir == "" {
		u.cfg.StorageDir = cfg.DataDir
	}
	u.started = u.now()
	var err error
	if u.auth, err = OpenAuth(cfg.DataDir, u.now); err != nil {
		return nil, err
	}
	if u.cert, u.fingerprint, err = LoadOrCreateCert(cfg.DataDir, []string{cfg.Name}, u.now()); err != nil {
		return nil, err
	}
	u.log.Info("web UI HTTPS certificate", "sha256", u.fingerprint)
	if !u.auth.HasPassword() {
		code, err := LoadOrCreatePairingCode(cfg.PairingFile)
		if err != nil {
			return nil, err
		}
		u.log.Info("web UI: no password yet; sign in with the pairing code", "code", code)
	}
	u.lim = newAttemptLimiter(u.now)
	u.phones = newPhonePairer(u.now)
	u.cop = http.NewCrossOriginProtection()
	u.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "client", clientAddr(r))
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			writeJSONError(w, http.StatusForbidden, "cross-origin request refused: the box accepts changes only from its own pages")
			return
		}
		u.renderMessage(w, r, http.StatusForbidden, "Refused", "This request came from another web site. The box accepts changes only from its own pages; nothing was changed.")
	}))
	u.mux = http.NewServeMux()
	u.routes()
	for _, p := range append(corePages(), homePage()) {
		if err := u.AddPage(p); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Fingerprint is the SHA-256 fingerprint of the box's HTTPS certificate.
func (u *UI) Fingerprint() string { return u.fingerprint }

// Auth gives the sign-in state (the home issue pairs phones as household
// members with Auth.NewSession).
func (u *UI) Auth() *Auth { return u.auth }

// Run serves the UI on cfg.Addr and cfg.TLSAddr (if set) and keeps the
// live event streams fed until ctx ends.
func (u *UI) Run(ctx context.Context) error {
	defer u.once.Do(func() { close(u.done) })
	g, gctx := errgroup.WithContext(ctx)
	ln, tln := u.cfg.Listener, u.cfg.TLSListener
	var err error
	if ln == nil && u.cfg.Addr != "" {
		if ln, err = net.Listen("tcp", u.cfg.Addr); err != nil {
			return fmt.Errorf("webui: %w", err)
		}
	}
	if tln == nil && u.cfg.TLSAddr != "" {
		if tln, err = net.Listen("tcp", u.cfg.TLSAddr); err != nil {
			if ln != nil {
				ln.Close()
			}
			return fmt.Errorf("webui: %w", err)
		}
	}
	if ln != nil {
		u.log.Info("web UI", "url", "http://"+ln.Addr().String()+"/")
		g.Go(func() error { return serve(gctx, ln, u) })
	}
	if tln != nil {
		tln = tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{u.cert}, MinVersion: tls.VersionTLS12})
		u.log.Info("web UI over HTTPS", "url", "https://"+tln.Addr().String()+"/", "sha256", u.fingerprint)
		g.Go(func() error { return serve(gctx, tln, u) })
	}
	g.Go(func() error { u.pollLoop(gctx); return nil })
	return g.Wait()
}

// Close ends the open event streams (Run does it when it returns).
func (u *UI) Close() { u.once.Do(func() { close(u.done) }) }

func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: nil}
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

// ServeHTTP serves the UI and, behind it, the local API.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
	}
	u.cop.Handler(u.mux).ServeHTTP(w, r)
}

func (u *UI) routes() {
	u.mux.HandleFunc("/v1/", u.serveAPI)
	static, _ := fs.Sub(assets, "static")
	fileServer := http.FileServerFS(static)
	u.mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})))
	u.mux.HandleFunc("GET /manifest.webmanifest", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/manifest+json")
		b, _ := assets.ReadFile("static/manifest.webmanifest")
		w.Write(b)
	})
	u.phoneRoutes()
	u.mux.HandleFunc("GET /setup", u.getSetup)
	u.mux.HandleFunc("POST /setup", u.postSetup)
	u.mux.HandleFunc("GET /signin", u.getSignin)
	u.mux.HandleFunc("POST /signin", u.postSignin)
	u.mux.HandleFunc("POST /signin/reset", u.postReset)
	u.mux.HandleFunc("POST /signout", u.postSignout)
	u.otaRoutes()
	u.mux.HandleFunc("GET /ui/events", func(w http.ResponseWriter, r *http.Request) {
		s, tok := u.session(r)
		if s == nil {
			writeJSONError(w, http.StatusUnauthorized, "signed out: sign in again")
			return
		}
		u.serveEvents(w, r, s, tok)
	})
	u.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s, _ := u.session(r)
		if s == nil {
			u.toSignin(w, r)
			return
		}
		for _, p := range u.pages {
			if p.Nav != "" && s.Role.Allows(p.Role) {
				http.Redirect(w, r, p.Path, http.StatusSeeOther)
				return
			}
		}
		u.renderMessage(w, r, http.StatusForbidden, "Nothing here yet", "No page is open to your role ("+s.Role.String()+").")
	})
	u.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u.renderMessage(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
	})
}

// cookieName is the session cookie. The __Host- prefix (HTTPS only) pins
// it to this host and path /.
func cookieName(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-oepc_session"
	}
	return "oepc_session"
}

// session returns the request's session and its token, or nil.
func (u *UI) session(r *http.Request) (*Session, string) {
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		return nil, ""
	}
	s := u.auth.Lookup(c.Value)
	if s == nil {
		return nil, ""
	}
	return s, c.Value
}

func (u *UI) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// serveAPI lets a request reach the local API: with the bearer token as
// it is; with a session cookie if the session's role may use the route.
func (u *UI) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		u.cfg.API.ServeHTTP(w, r)
		return
	}
	s, _ := u.session(r)
	if s == nil {
		writeJSONError(w, http.StatusUnauthorized, "sign in to the web UI, or send the API token (Authorization: Bearer TOKEN)")
		return
	}
	if !u.apiAllowed(s.Role, r.Method, r.URL.Path) {
		writeJSONError(w, http.StatusForbidden, "this needs the box's owner; you are signed in as a "+s.Role.String())
		return
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+u.cfg.Token)
	u.cfg.API.ServeHTTP(w, r2)
}

func (u *UI) apiAllowed(role Role, method, path string) bool {
	if role.Allows(RoleOwner) {
		return true
	}
	if !role.Allows(RoleMember) {
		return false
	}
	if memberHomeRoute(method, path) {
		return true
	}
	for _, p := range u.cfg.MemberAPI {
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\": %q}\n", msg)
}

// LoadOrCreatePairingCode returns the pairing code in path, making one
// (six digits, "123-456") if there is none.
func LoadOrCreatePairingCode(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if c := strings.TrimSpace(string(b)); c != "" {
			return c, nil
		}
	}
	return NewPairingCode(path)
}

// NewPairingCode writes a fresh pairing code to path and returns it.
func NewPairingCode(path string) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	code := fmt.Sprintf("%03d-%03d", n.Int64()/1000, n.Int64()%1000)
	return code, atomicfile.Write(path, []byte(code+"\n"), 0o600)
}

// normCode keeps a typed code's digits ("123 456", "123-456" match).
func normCode(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// maxPairFails wrong pairing codes burn the code; a fresh one is made and
// shown on the box only.
const maxPairFails = 10

// checkPairing compares a typed code with the box's current one.
func (u *UI) checkPairing(typed string) (bool, error) {
	u.pairMu.Lock()
	defer u.pairMu.Unlock()
	code, err := LoadOrCreatePairingCode(u.cfg.PairingFile)
	if err != nil {
		return false, err
	}
	want, got := normCode(code), normCode(typed)
	if len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
		u.pairFails = 0
		return true, nil
	}
	u.pairFails++
	if u.pairFails >= maxPairFails {
		u.pairFails = 0
		fresh, err := NewPairingCode(u.cfg.PairingFile)
		if err != nil {
			return false, err
		}
		u.log.Warn("web UI: too many wrong pairing codes; the code was replaced by a fresh one", "code", fresh)
	}
	return false, nil
}

// usePairing replaces a used pairing code by a fresh one (for phones).
func (u *UI) usePairing() {
	u.pairMu.Lock()
	defer u.pairMu.Unlock()
	if _, err := NewPairingCode(u.cfg.PairingFile); err != nil {
		u.log.Warn("web UI: the used pairing code could not be replaced", "err", err)
	}
}

// apiCall runs one local API request in-process with the box's token.
func (u *UI) apiCall(ctx context.Context, method, path, contentType string, body []byte, remote string) (int, []byte, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://box"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.RemoteAddr = remote
	req.Header.Set("Authorization", "Bearer "+u.cfg.Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := &recorder{h: http.Header{}, code: http.StatusOK}
	u.cfg.API.ServeHTTP(rec, req)
	return rec.code, rec.buf.Bytes(), nil
}

// recorder captures an in-process API answer (bounded: a page needs JSON,
// never a file's bytes).
type recorder struct {
	h    http.Header
	code int
	buf  bytes.Buffer
	wrot bool
}

const maxInProcessAnswer = 8 << 20

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(c int) {
	if !r.wrot {
		r.code, r.wrot = c, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrot = true
	if r.buf.Len()+len(b) > maxInProcessAnswer {
		return 0, errors.New("webui: API answer too large for a page")
	}
	return r.buf.Write(b)
}
