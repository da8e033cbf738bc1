package bootguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	rootA = "PARTUUID=60c24cc1-f3f9-427a-8199-2e31f6a00001/PARTNROFF=1"
	rootB = "PARTUUID=60c24cc1-f3f9-427a-8199-2e31f6a00001/PARTNROFF=2"
)

func cmdline(root string) string {
	return "console=ttyS0,115200 root=" + root + " ro init=/gokrazy/init"
}

type fake struct {
	healthy    bool
	rollbacks  int
	checks     int
	mu         sync.Mutex
	becomeOKAt int // the check number from which on it is healthy (0: never unless healthy)
}

func (f *fake) check(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	if f.healthy || (f.becomeOKAt > 0 && f.checks >= f.becomeOKAt) {
		return nil
	}
	return errors.New("not healthy")
}

func (f *fake) rollback(context.Context) error { f.rollbacks++; return nil }

func run(t *testing.T, dir, root, version string, f *fake) Outcome {
	t.Helper()
	out, err := Run(context.Background(), Config{
		StateDir: dir, Cmdline: cmdline(root), Version: version,
		Probation: 300 * time.Millisecond, Interval: 20 * time.Millisecond,
		Check: f.check, Rollback: f.rollback,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	// First boot, healthy: root A is recorded.
	if out := run(t, dir, rootA, "v1", &fake{healthy: true}); out != Confirmed {
		t.Fatalf("first boot: %s", out)
	}
	st, _ := load(dir)
	if st == nil || st.Root != rootA || st.Version != "v1" {
		t.Fatalf("state after first boot: %+v", st)
	}
	// Update to root B that becomes healthy after a few checks: kept.
	f := &fake{becomeOKAt: 3}
	if out := run(t, dir, rootB, "v2", f); out != Confirmed || f.rollbacks != 0 {
		t.Fatalf("healthy update: %s, %d rollbacks", out, f.rollbacks)
	}
	st, _ = load(dir)
	if st.Root != rootB || st.Version != "v2" {
		t.Fatalf("state after healthy update: %+v", st)
	}
	// Update to root A that never becomes healthy: rolled back to B.
	f = &fake{}
	start := time.Now()
	if out := run(t, dir, rootA, "v3", f); out != RolledBack || f.rollbacks != 1 {
		t.Fatalf("broken update: %s, %d rollbacks", out, f.rollbacks)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %v, want the 300ms probation", d)
	}
	st, _ = load(dir)
	if st.Root != rootB || st.Version != "v2" || st.RolledBack != rootA {
		t.Fatalf("state after rollback: %+v", st)
	}
	// Back on B (the known-good root) but unhealthy: no rollback loop.
	f = &fake{}
	if out := run(t, dir, rootB, "v2", f); out != Unhealthy || f.rollbacks != 0 {
		t.Fatalf("unhealthy known-good root: %s, %d rollbacks", out, f.rollbacks)
	}
}

func TestFirstBootUnhealthyDoesNotRollBack(t *testing.T) {
	f := &fake{}
	if out := run(t, t.TempDir(), rootA, "v1", f); out != Unhealthy || f.rollbacks != 0 {
		t.Fatalf("%s, %d rollbacks", out, f.rollbacks)
	}
}

func TestDamagedStateIsIgnored(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.json"), []byte("{garbage"), 0o600)
	f := &fake{}
	if out := run(t, dir, rootA, "v1", f); out != Unhealthy || f.rollbacks != 0 {
		t.Fatalf("%s, %d rollbacks", out, f.rollbacks)
	}
}

func TestBadConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Error("empty config accepted")
	}
	f := &fake{healthy: true}
	_, err := Run(context.Background(), Config{StateDir: t.TempDir(), Cmdline: "console=ttyS0", Probation: time.Second, Check: f.check, Rollback: f.rollback})
	if err == nil || !strings.Contains(err.Error(), "root=") {
		t.Errorf("cmdline without root=: %v", err)
	}
}

func TestAPICheck(t *testing.T) {
	body := `{"healthy":true,"reports":[{"name":"oepcd","status":"ok"},{"name":"storaged","status":"not enabled","detail":"later"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	dir := t.TempDir()
	tf := filepath.Join(dir, "api.token")
	os.WriteFile(tf, []byte("tok\n"), 0o600)
	ctx := context.Background()
	if err := APICheck(srv.URL, tf, []string{"oepcd", "storaged"})(ctx); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := APICheck(srv.URL, tf, []string{"oepcd", "minerd"})(ctx); err == nil {
		t.Error("missing program not noticed")
	}
	body = `[{"name":"oepcd","status":"error","detail":"database corrupt"}]`
	if err := APICheck(srv.URL, tf, nil)(ctx); err == nil || !strings.Contains(err.Error(), "database corrupt") {
		t.Errorf("error report: %v", err)
	}
	os.WriteFile(tf, []byte("other"), 0o600)
	if err := APICheck(srv.URL, tf, nil)(ctx); err == nil {
		t.Error("401 passed")
	}
}

func TestGokrazyRollback(t *testing.T) {
	d, err := os.MkdirTemp("", "bg")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(d)
	sock := filepath.Join(d, "gk.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "gokrazy" || p != "pw" || r.Method != http.MethodPost {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		calls = append(calls, r.URL.Path)
		mu.Unlock()
	})}
	go srv.Serve(ln)
	defer srv.Close()
	if err := GokrazyRollback(sock, "pw")(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(calls, ",") != "/update/switch,/reboot" {
		t.Errorf("calls %v", calls)
	}
	if err := GokrazyRollback(sock, "wrong")(context.Background()); err == nil {
		t.Error("wrong password accepted")
	}
}

func TestRootOf(t *testing.T) {
	r, err := RootOf(cmdline(rootB) + "\n")
	if err != nil || r != rootB {
		t.Errorf("RootOf = %q, %v", r, err)
	}
}
