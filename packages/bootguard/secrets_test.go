package bootguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/atomicfile"
)

// box is one box's /perm for the secrets step, with a fake gokrazy that
// reads its password at "boot" the way gokrazy does (/perm first).
type box struct {
	perm     string
	etcPW    string // the image's password (/etc/gokr-pw.txt)
	gokrazy  string // the password gokrazy runs with this boot
	reboots  int
	shown    []Secrets
	rebootOK bool
}

func newBox(t *testing.T, etcPW string) *box {
	b := &box{perm: t.TempDir(), etcPW: etcPW, rebootOK: true}
	b.boot(t)
	return b
}

func (b *box) pwFile() string    { return filepath.Join(b.perm, "gokr-pw.txt") }
func (b *box) tokenFile() string { return filepath.Join(b.perm, "home", "oepcd", "api.token") }
func (b *box) stateDir() string  { return filepath.Join(b.perm, "home", "bootguard") }

// boot is what gokrazy.Boot does with the password.
func (b *box) boot(t *testing.T) {
	b.gokrazy = b.etcPW
	if pw, err := os.ReadFile(b.pwFile()); err == nil {
		b.gokrazy = strings.TrimSpace(string(pw))
	}
}

// oepcd creates its token on first start, as identity.LoadOrCreateToken does.
func (b *box) oepcd(t *testing.T) {
	if _, err := os.Stat(b.tokenFile()); err == nil {
		return
	}
	tok, _ := randomHex(32)
	if err := atomicfile.Write(b.tokenFile(), []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *box) ensure(t *testing.T) SecretsOutcome {
	t.Helper()
	out, err := EnsureSecrets(context.Background(), SecretsConfig{
		PasswordFile: b.pwFile(), TokenFile: b.tokenFile(), StateDir: b.stateDir(),
		TokenWait: time.Second,
		Reboot: func(context.Context) error {
			if !b.rebootOK {
				return errors.New("no reboot")
			}
			b.reboots++
			return nil
		},
		Accepts: func(_ context.Context, pw string) (bool, error) { return pw == b.gokrazy, nil },
		Show:    func(s Secrets) { b.shown = append(b.shown, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestSecretsFirstBoot: the first boot makes the password and reboots; the
// next boot shows password and token once, and gokrazy uses the box's
// password, not the image's; later boots show nothing.
func TestSecretsFirstBoot(t *testing.T) {
	const imagePW = "image-password-from-the-build-0123456789"
	b := newBox(t, imagePW)
	b.oepcd(t)
	if out := b.ensure(t); out != SecretsCreated {
		t.Fatalf("first boot: %q, want %q", out, SecretsCreated)
	}
	if b.reboots != 1 || len(b.shown) != 0 {
		t.Fatalf("first boot: %d reboots, shown %d times; want a reboot before anything is shown", b.reboots, len(b.shown))
	}
	if m := mode(t, b.pwFile()); m != 0o600 {
		t.Errorf("%s has mode %o, want 0600", b.pwFile(), m)
	}
	entries, _ := os.ReadDir(b.perm)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}

	b.boot(t)
	if b.gokrazy == imagePW {
		t.Fatal("after the reboot gokrazy still runs with the image's password")
	}
	if out := b.ensure(t); out != SecretsShown {
		t.Fatalf("second boot: %q, want %q", out, SecretsShown)
	}
	tok, _ := os.ReadFile(b.tokenFile())
	if len(b.shown) != 1 {
		t.Fatalf("shown %d times, want once", len(b.shown))
	}
	s := b.shown[0]
	if s.GokrazyPassword != b.gokrazy || !s.Active || s.APIToken != strings.TrimSpace(string(tok)) {
		t.Errorf("shown %+v; want gokrazy's password %q (active) and the token %q", s, b.gokrazy, tok)
	}
	if len(s.GokrazyPassword) != 2*passwordRandomBytes {
		t.Errorf("password %q: want %d hex digits", s.GokrazyPassword, 2*passwordRandomBytes)
	}

	for range 2 {
		b.boot(t)
		if out := b.ensure(t); out != SecretsInPlace {
			t.Fatalf("later boot: %q, want %q", out, SecretsInPlace)
		}
	}
	if len(b.shown) != 1 || b.reboots != 1 {
		t.Errorf("later boots: shown %d times, %d reboots; want once and one", len(b.shown), b.reboots)
	}
}

// TestSecretsDifferPerBox: two boxes flashed from one image end up with
// different passwords and tokens, neither of them the image's.
func TestSecretsDifferPerBox(t *testing.T) {
	const imagePW = "image-password-from-the-build-0123456789"
	var got []Secrets
	for range 2 {
		b := newBox(t, imagePW)
		b.oepcd(t)
		b.ensure(t)
		b.boot(t)
		b.ensure(t)
		if len(b.shown) != 1 {
			t.Fatalf("shown %d times", len(b.shown))
		}
		got = append(got, b.shown[0])
	}
	if got[0].GokrazyPassword == got[1].GokrazyPassword || got[0].APIToken == got[1].APIToken {
		t.Errorf("two boxes share secrets: %+v", got)
	}
	for _, s := range got {
		if s.GokrazyPassword == imagePW {
			t.Error("a box kept the image's password")
		}
	}
}

// TestSecretsOldBox: a box flashed before per-box secrets (bootguard has
// judged boots; its token came from the build machine) gets a new token
// along with its password.
func TestSecretsOldBox(t *testing.T) {
	b := newBox(t, "shared-password-of-the-build-machine-01")
	const shared = "0000000000000000000000000000000000000000000000000000000000000000"
	if err := atomicfile.Write(b.tokenFile(), []byte(shared+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := save(b.stateDir(), State{Root: "r", Version: "old"}); err != nil {
		t.Fatal(err)
	}
	if out := b.ensure(t); out != SecretsCreated {
		t.Fatalf("%q", out)
	}
	tok, _ := os.ReadFile(b.tokenFile())
	if strings.TrimSpace(string(tok)) == shared || len(strings.TrimSpace(string(tok))) != 64 {
		t.Errorf("token %q: want a new one", tok)
	}
	if m := mode(t, b.tokenFile()); m != 0o600 {
		t.Errorf("token mode %o", m)
	}
	b.boot(t)
	b.ensure(t)
	if len(b.shown) != 1 || b.shown[0].APIToken != strings.TrimSpace(string(tok)) {
		t.Errorf("shown %+v", b.shown)
	}
}

// TestSecretsRebootFails: the step says so, and the next boot shows the
// secrets (gokrazy uses the new password only after a reboot).
func TestSecretsRebootFails(t *testing.T) {
	b := newBox(t, "image-password-from-the-build-0123456789")
	b.oepcd(t)
	b.rebootOK = false
	_, err := EnsureSecrets(context.Background(), SecretsConfig{
		PasswordFile: b.pwFile(), TokenFile: b.tokenFile(), StateDir: b.stateDir(),
		Reboot: func(context.Context) error { return errors.New("socket gone") },
		Show:   func(Secrets) {},
	})
	if err == nil || !strings.Contains(err.Error(), "next reboot") {
		t.Errorf("err = %v, want one that says the password takes effect at the next reboot", err)
	}
	// The same boot, bootguard restarted: the password exists, gokrazy does
	// not use it yet; show it and say so.
	if out := b.ensure(t); out != SecretsShown || len(b.shown) != 1 || b.shown[0].Active {
		t.Errorf("%q %+v", out, b.shown)
	}
}

// TestSecretsWaitForToken: without oepcd's token nothing is shown, and the
// next boot tries again.
func TestSecretsWaitForToken(t *testing.T) {
	b := newBox(t, "image-password-from-the-build-0123456789")
	b.ensure(t)
	b.boot(t)
	start := time.Now()
	if out := b.ensure(t); out != SecretsNotShown || len(b.shown) != 0 {
		t.Fatalf("%q %+v", out, b.shown)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Error("did not wait for the token")
	}
	b.oepcd(t)
	if out := b.ensure(t); out != SecretsShown {
		t.Fatalf("%q", out)
	}
}

// TestGokrazyPasswordOrder: the password gokrazy runs with is found in
// gokrazy's order, and one written to /perm during this boot (not in use
// yet) is skipped.
func TestGokrazyPasswordOrder(t *testing.T) {
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
	active := "etc-password-0123456789"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "gokrazy" || p != active {
			http.Error(w, "invalid username/password", http.StatusUnauthorized)
			return
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	perm, etc := filepath.Join(d, "perm-pw"), filepath.Join(d, "etc-pw")
	os.WriteFile(etc, []byte(active), 0o400)
	os.WriteFile(perm, []byte("perm-password-0123456789\n"), 0o600)
	ctx := context.Background()
	if pw, err := GokrazyPassword(ctx, sock, perm, etc); err != nil || pw != active {
		t.Errorf("before the reboot: %q, %v; want the /etc password", pw, err)
	}
	active = "perm-password-0123456789"
	if pw, err := GokrazyPassword(ctx, sock, perm, etc); err != nil || pw != active {
		t.Errorf("after the reboot: %q, %v; want the /perm password", pw, err)
	}
	active = "something else"
	if _, err := GokrazyPassword(ctx, sock, perm, etc); err == nil {
		t.Error("no password accepted, yet no error")
	}
	var calls []string
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, p, _ := r.BasicAuth(); p != "perm-password-0123456789" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		calls = append(calls, r.URL.String())
	})
	active = "perm-password-0123456789"
	reboot := GokrazyReboot(sock, func(ctx context.Context) (string, error) { return GokrazyPassword(ctx, sock, perm, etc) })
	if err := reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[1] != "/reboot?async=true" {
		t.Errorf("calls %v", calls)
	}
}
