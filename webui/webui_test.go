package webui

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI stands in for oepcd's local API: it checks the bearer token and
// records the calls that change something.
type fakeAPI struct {
	token string
	mu    sync.Mutex
	calls []string
	names map[string]string
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{token: strings.Repeat("t", 64), names: map[string]string{"12D3KooWfriend": "bob"}}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeJSONError(w, http.StatusUnauthorized, "missing or wrong API token")
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"name": "box1", "version": "v-test", "peer_id": "12D3KooWself", "uptime": "1m",
			"network": map[string]any{"peer_id": "12D3KooWself", "addrs": []string{"/ip4/127.0.0.1/tcp/1"}, "direct_ratio": 1.0}})
	})
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"healthy": true, "reports": []map[string]any{
			{"name": "oepcd", "status": "ok"}, {"name": "storaged", "status": "not enabled", "detail": "arrives with issue 7"}}})
	})
	mux.HandleFunc("GET /v1/friends", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []map[string]any
		for id, n := range f.names {
			out = append(out, map[string]any{"id": id, "name": n, "their_name": n, "connected": true})
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("PATCH /v1/friends/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.names[r.PathValue("id")]; !ok {
			writeJSONError(w, http.StatusNotFound, "no such friend")
			return
		}
		var req struct{ Name *string }
		json.NewDecoder(r.Body).Decode(&req)
		if req.Name != nil {
			f.names[r.PathValue("id")] = *req.Name
		}
		f.calls = append(f.calls, "PATCH "+r.PathValue("id"))
		w.Write([]byte("{}"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		writeJSONError(w, http.StatusNotFound, "no route")
	})
	mux.ServeHTTP(w, r)
}

func (f *fakeAPI) changes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type env struct {
	t    *testing.T
	ui   *UI
	api  *fakeAPI
	srv  *httptest.Server
	dir  string
	logs *LogRing
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	api := newFakeAPI()
	logs := NewLogRing(100)
	ui, err := New(Config{DataDir: filepath.Join(dir, "webui"), PairingFile: filepath.Join(dir, "pairing.code"), API: api, Token: api.token,
		Name: "box1", Logs: logs, FailDelay: 10 * time.Millisecond, Logger: slog.New(logs.Handler(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui)
	t.Cleanup(func() { ui.Close(); srv.Close() })
	return &env{t: t, ui: ui, api: api, srv: srv, dir: dir, logs: logs}
}

func (e *env) code() string {
	b, err := os.ReadFile(filepath.Join(e.dir, "pairing.code"))
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// client is a browser: cookies, no redirects followed.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) post(c *http.Client, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.PostForm(e.srv.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

const pw = "a good long password"

func (e *env) owner() *http.Client {
	e.t.Helper()
	c := e.client()
	resp, body := e.post(c, "/setup", url.Values{"code": {e.code()}, "password": {pw}, "password2": {pw}})
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("setup: %d %s", resp.StatusCode, body)
	}
	return c
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "hunter2") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := HashPassword("hunter2hunter2")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"hunter2hunter2": true, "hunter2hunter3": false, "": false} {
		ok, err := CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$aa$bb", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$!!$!!"} {
		if ok, err := CheckPassword(bad, "x"); err == nil || ok {
			t.Errorf("CheckPassword on damaged hash %q = %v, %v", bad, ok, err)
		}
	}
}

func TestSessions(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, err := OpenAuth(dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	tok, s, err := a.NewSession(RoleOwner, "10.0.0.2", "test")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "auth.json"))
	if strings.Contains(string(raw), tok) {
		t.Fatal("auth.json holds the session token itself")
	}
	if !strings.Contains(string(raw), tokenHash(tok)) {
		t.Fatal("auth.json lacks the token's hash")
	}
	if got := a.Lookup(tok); got == nil || got.ID != s.ID || got.Role != RoleOwner {
		t.Fatalf("Lookup = %+v", got)
	}
	if a.Lookup(tok+"x") != nil || a.Lookup("") != nil {
		t.Fatal("a wrong token finds a session")
	}
	// The sessions survive a restart.
	b, err := OpenAuth(dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	if b.Lookup(tok) == nil {
		t.Fatal("session lost across a restart")
	}
	if err := b.EndSession(s.ID); err != nil {
		t.Fatal(err)
	}
	if b.Lookup(tok) != nil || b.EndSession(s.ID) == nil {
		t.Fatal("an ended session still works")
	}
	// Sessions expire when unused.
	tok2, _, _ := b.NewSession(RoleMember, "x", "y")
	now = now.Add(SessionTTL + time.Minute)
	if b.Lookup(tok2) != nil {
		t.Fatal("an expired session works")
	}
	// A new password signs everyone out.
	tok3, _, _ := b.NewSession(RoleOwner, "x", "y")
	if err := b.SetPassword("another password"); err != nil {
		t.Fatal(err)
	}
	if b.Lookup(tok3) != nil {
		t.Fatal("a session survived a new password")
	}
	if err := b.SetPassword("short"); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
	// The list is bounded.
	for i := 0; i < maxSessions+10; i++ {
		b.NewSession(RoleOwner, "x", "y")
	}
	if n := len(b.Sessions()); n != maxSessions {
		t.Fatalf("%d sessions kept, want %d", n, maxSessions)
	}
	// A damaged file is an error that says what to do.
	os.WriteFile(filepath.Join(dir, "auth.json"), []byte("{garbage"), 0o600)
	if _, err := OpenAuth(dir, clock); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("damaged auth.json: %v", err)
	}
}

func TestRoleAllows(t *testing.T) {
	for _, c := range []struct {
		have, need Role
		want       bool
	}{{RoleOwner, RoleOwner, true}, {RoleOwner, RoleMember, true}, {RoleMember, RoleMember, true}, {RoleMember, RoleOwner, false}, {0, RoleMember, false}, {RoleOwner, 0, false}} {
		if got := c.have.Allows(c.need); got != c.want {
			t.Errorf("%v.Allows(%v) = %v", c.have, c.need, got)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newAttemptLimiter(func() time.Time { return now })
	// Successes hand their attempt back.
	for i := 0; i < 3*attemptBurst; i++ {
		done, allowed, _ := l.allow("a")
		if !allowed {
			t.Fatalf("attempt %d refused though all succeeded", i)
		}
		done(false)
	}
	// One attempt in flight at a time.
	done, _, _ := l.allow("a")
	if _, allowed, _ := l.allow("a"); allowed {
		t.Fatal("a second attempt while one is in flight")
	}
	done(true)
	for i := 1; i < attemptBurst; i++ {
		done, allowed, _ := l.allow("a")
		if !allowed {
			t.Fatalf("failure %d refused within the burst", i)
		}
		done(true)
	}
	_, allowed, wait := l.allow("a")
	if allowed || wait <= 0 || wait > attemptEvery {
		t.Fatalf("after the burst: allowed %v, wait %v", allowed, wait)
	}
	if done, allowed, _ := l.allow("b"); !allowed {
		t.Fatal("another address is limited too")
	} else {
		done(true)
	}
	now = now.Add(attemptEvery)
	if done, allowed, _ := l.allow("a"); !allowed {
		t.Fatal("still limited after the wait")
	} else {
		done(true)
	}
	if _, allowed, _ := l.allow("a"); allowed {
		t.Fatal("a second failure allowed right after the wait")
	}
	// The table is bounded.
	for i := 0; i < maxLimiters+100; i++ {
		l.allow(string(rune(i)) + "x")
	}
	if len(l.m) > maxLimiters {
		t.Fatalf("%d limiters kept", len(l.m))
	}
}

func TestSetupAndSignin(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	// Before setup everything leads to /setup, and the API is closed.
	for _, p := range []string{"/", "/system", "/friends", "/signin"} {
		resp, _ := e.get(c, p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
			t.Errorf("GET %s: %d to %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := e.get(c, "/v1/status"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API before setup: %d", resp.StatusCode)
	}
	resp, body := e.post(c, "/setup", url.Values{"code": {"999-999x"}, "password": {pw}, "password2": {pw}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Wrong pairing code") {
		t.Errorf("wrong code: %d", resp.StatusCode)
	}
	used := e.code()
	c = e.owner()
	if e.code() == used {
		t.Error("the used pairing code was not replaced")
	}
	if resp, body := e.get(c, "/system"); resp.StatusCode != 200 || !strings.Contains(body, "v-test") || !strings.Contains(body, "not enabled") || !strings.Contains(body, e.ui.Fingerprint()) {
		t.Errorf("system page: %d", resp.StatusCode)
	}
	// The old code cannot set a password again.
	resp, _ = e.post(e.client(), "/setup", url.Values{"code": {e.code()}, "password": {"evil password"}, "password2": {"evil password"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("setup after setup: %d", resp.StatusCode)
	}
	// Sign out; the session is gone on the box.
	resp, _ = e.post(c, "/signout", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signout: %d", resp.StatusCode)
	}
	if resp, _ := e.get(c, "/system"); resp.Header.Get("Location") != "/signin" {
		t.Errorf("signed out, /system: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(e.ui.Auth().Sessions()); n != 0 {
		t.Errorf("%d sessions after sign-out", n)
	}
	resp, _ = e.post(c, "/signin", url.Values{"password": {pw}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signin: %d", resp.StatusCode)
	}
	if resp, _ := e.get(c, "/friends"); resp.StatusCode != 200 {
		t.Errorf("friends after sign-in: %d", resp.StatusCode)
	}
}

func TestWrongPasswordsSlowed(t *testing.T) {
	e := newEnv(t)
	e.owner()
	c := e.client()
	var limited bool
	for i := 0; i < attemptBurst+2; i++ {
		start := time.Now()
		resp, body := e.post(c, "/signin", url.Values{"password": {"wrong"}})
		if resp.StatusCode == http.StatusTooManyRequests {
			if i < attemptBurst || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many sign-in attempts") {
				t.Fatalf("limited at attempt %d: %s", i, resp.Header.Get("Retry-After"))
			}
			limited = true
			break
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
		if d := time.Since(start); d < e.ui.cfg.FailDelay {
			t.Fatalf("a wrong password answered after %v, before the failure delay", d)
		}
	}
	if !limited {
		t.Fatal("wrong passwords never limited")
	}
	if resp, _ := e.post(c, "/signin", url.Values{"password": {pw}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right password while limited: %d", resp.StatusCode)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	c := e.owner()
	before := len(e.api.changes())
	post := func(ct, body string) (int, string) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/friends", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, ct, body string
		code           int
		msg            string
	}{
		{"wrong content type", "application/json", `{"do":"rename"}`, 415, "application/x-www-form-urlencoded"},
		{"no content type", "", "do=rename", 415, "application/x-www-form-urlencoded"},
		{"oversized", "application/x-www-form-urlencoded", "do=rename&id=12D3KooWfriend&name=" + strings.Repeat("a", maxForm), 413, "too large"},
		{"missing field", "application/x-www-form-urlencoded", "do=rename&id=12D3KooWfriend", 400, "The new name is missing"},
		{"unknown action", "application/x-www-form-urlencoded", "do=explode", 400, "no action"},
		{"path traversal", "application/x-www-form-urlencoded", "do=rename&id=..%2F..%2Fv1%2Fcloud%2Frm&name=x", 404, "no such friend"},
		{"remove unconfirmed", "application/x-www-form-urlencoded", "do=remove&id=12D3KooWfriend", 400, "confirm"},
	} {
		code, body := post(tc.ct, tc.body)
		if code != tc.code || !strings.Contains(body, tc.msg) || !strings.Contains(body, `role="alert"`) {
			t.Errorf("%s: %d, want %d with %q", tc.name, code, tc.code, tc.msg)
		}
	}
	if got := e.api.changes()[before:]; len(got) != 0 {
		t.Errorf("bad input changed something: %v", got)
	}
	e.api.mu.Lock()
	name := e.api.names["12D3KooWfriend"]
	e.api.mu.Unlock()
	if name != "bob" {
		t.Errorf("friend renamed to %q by bad input", name)
	}
	// A good rename goes through the API.
	code, body := post("application/x-www-form-urlencoded", "do=rename&id=12D3KooWfriend&name=Bob%27s+box")
	if code != 200 || !strings.Contains(body, "Renamed to Bob&#39;s box") {
		t.Errorf("rename: %d", code)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t)
	c := e.owner()
	for _, path := range []string{"/friends", "/v1/friends/12D3KooWfriend", "/signout"} {
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader("do=rename&id=12D3KooWfriend&name=evil"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d", path, resp.StatusCode)
		}
	}
	if len(e.api.changes()) != 0 || len(e.ui.Auth().Sessions()) != 1 {
		t.Errorf("a cross-site POST changed something: %v", e.api.changes())
	}
}

func TestMemberRefusedOnOwnerPages(t *testing.T) {
	e := newEnv(t)
	e.owner()
	e.ui.cfg.MemberAPI = []string{"/v1/home"}
	tok, _, err := e.ui.Auth().NewSession(RoleMember, "10.0.0.9", "phone")
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "oepc_session", Value: tok}})
	for _, p := range []string{"/system", "/friends", "/network"} {
		resp, body := e.get(c, p)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "household member") {
			t.Errorf("member GET %s: %d", p, resp.StatusCode)
		}
	}
	resp, _ := e.post(c, "/friends", url.Values{"do": {"rename"}, "id": {"12D3KooWfriend"}, "name": {"x"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("member POST: %d", resp.StatusCode)
	}
	for _, p := range []string{"/v1/status", "/v1/friends", "/v1/homeevil"} {
		if resp, _ := e.get(c, p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("member API %s: %d", p, resp.StatusCode)
		}
	}
	// The member's own API routes are let through (the fake has none: 404).
	if resp, _ := e.get(c, "/v1/home/devices"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("member API /v1/home/devices: %d", resp.StatusCode)
	}
	// A member's first page is Home.
	if resp, _ := e.get(c, "/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Errorf("member /: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(e.api.changes()) != 1 {
		t.Errorf("member changed something: %v", e.api.changes())
	}
}

func TestBearerPassesThrough(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+e.api.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("bearer API: %d", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer wrong")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong bearer: %d", resp.StatusCode)
	}
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	old := e.owner()
	c := e.client()
	before := e.code()
	resp, _ := e.post(c, "/signin/reset", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	fresh := e.code()
	if fresh == before {
		t.Fatal("a reset did not make a fresh code")
	}
	// The fresh code is on the console (the log handler), not in the
	// System page's log nor any answer.
	for _, l := range e.logs.Lines() {
		if strings.Contains(l.Message+l.Attrs, fresh) {
			t.Fatalf("the log ring shows the fresh code: %s %s", l.Message, l.Attrs)
		}
	}
	if _, body := e.get(old, "/system"); strings.Contains(body, fresh) {
		t.Fatal("the System page shows the fresh code")
	}
	// The old password works until a new one is set.
	if resp, _ := e.post(e.client(), "/signin", url.Values{"password": {pw}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("old password during a reset: %d", resp.StatusCode)
	}
	resp, _ = e.post(c, "/setup", url.Values{"code": {fresh}, "password": {"brand new password"}, "password2": {"brand new password"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup with the fresh code: %d", resp.StatusCode)
	}
	if resp, _ := e.get(old, "/system"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("an old session survived the reset")
	}
	if resp, _ := e.post(e.client(), "/signin", url.Values{"password": {pw}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the old password after a reset: %d", resp.StatusCode)
	}
}

func TestPairingCodeBurnsAfterTooManyTries(t *testing.T) {
	e := newEnv(t)
	code := e.code()
	for i := 0; i < maxPairFails; i++ {
		ok, err := e.ui.checkPairing("000-00" + string(rune('0'+i%10)))
		if err != nil || ok {
			t.Fatal(ok, err)
		}
	}
	if e.code() == code {
		t.Fatal("the pairing code survived many wrong tries")
	}
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	c := e.owner()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/ui/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	e.ui.Publish("transfers", map[string]int{"done": 3})
	buf := make([]byte, 4096)
	var got string
	for !strings.Contains(got, "event: transfers\ndata: {\"done\":3}") {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("stream ended: %v (got %q)", err, got)
		}
		got += string(buf[:n])
	}
	// Without a session there is no stream.
	if r, _ := e.get(e.client(), "/ui/events"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("events signed out: %d", r.StatusCode)
	}
}

func TestLogRing(t *testing.T) {
	r := NewLogRing(3)
	log := slog.New(r.Handler(slog.DiscardHandler)).With("box", "b1")
	for i := 0; i < 5; i++ {
		log.Info("line", "n", i, "code", "123-456")
	}
	log.Debug("hidden")
	lines := r.Lines()
	if len(lines) != 3 || !strings.Contains(lines[0].Attrs, "n=2") || !strings.Contains(lines[2].Attrs, "n=4") {
		t.Fatalf("lines %+v", lines)
	}
	for _, l := range lines {
		if strings.Contains(l.Attrs, "123-456") || !strings.Contains(l.Attrs, "box=b1") {
			t.Fatalf("attrs %q", l.Attrs)
		}
	}
}

func TestCertKept(t *testing.T) {
	dir := t.TempDir()
	_, fp1, err := LoadOrCreateCert(dir, []string{"box1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, fp2, err := LoadOrCreateCert(dir, nil, time.Now())
	if err != nil || fp1 != fp2 || len(fp1) != 95 {
		t.Fatalf("fingerprints %q %q %v", fp1, fp2, err)
	}
	os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("junk"), 0o644)
	if _, _, err := LoadOrCreateCert(dir, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "remove") {
		t.Fatalf("a damaged certificate: %v", err)
	}
}

func TestQRSVG(t *testing.T) {
	svg, err := QRSVG("oe://friend/12D3KooW?code=ABCD", `a "label"`)
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if !strings.HasPrefix(s, "<svg") || !strings.Contains(s, `aria-label="a &#34;label&#34;"`) || strings.Count(s, "h") < 20 {
		t.Fatalf("svg %q", s[:100])
	}
}

func TestLimitKey(t *testing.T) {
	for addr, want := range map[string]string{
		"10.0.0.7:5000":              "10.0.0.7",
		"[::ffff:10.0.0.7]:5000":     "10.0.0.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":          "fe80::/64",
		"not an address":             "not an address",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		if got := limitKey(r); got != want {
			t.Errorf("limitKey(%s) = %q, want %q", addr, got, want)
		}
	}
}
