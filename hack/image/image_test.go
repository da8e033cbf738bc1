package image

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFlashTargetRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dev, want string }{
		{file, "not a block device"},
		{"/dev/null", "not a block device"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		_, err := CheckFlashTarget(c.dev, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckFlashTarget(%s) = %v, want %q", c.dev, err, c.want)
		}
	}
}

// TestCheckFlashTargetRefusesSystemDisk finds the block device that holds /
// and checks that flashing it is refused.
func TestCheckFlashTargetRefusesSystemDisk(t *testing.T) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Skip("no /proc/self/mounts:", err)
	}
	defer f.Close()
	var root string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) > 1 && fl[1] == "/" && strings.HasPrefix(fl[0], "/dev/") {
			root = fl[0]
		}
	}
	if root == "" {
		t.Skip("/ is not on a /dev block device here (container overlay?)")
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode()&os.ModeDevice == 0 {
		t.Skipf("%s is not visible as a device node here", root)
	}
	// Use the whole disk if / is on a partition.
	real, _ := filepath.EvalSymlinks(root)
	name := filepath.Base(real)
	if _, err := os.Stat("/sys/class/block/" + name + "/partition"); err == nil {
		parent, err := filepath.EvalSymlinks("/sys/class/block/" + name + "/..")
		if err != nil {
			t.Fatal(err)
		}
		root = "/dev/" + filepath.Base(parent)
	}
	_, err = CheckFlashTarget(root, 1)
	if err == nil || !(strings.Contains(err.Error(), "running system") || strings.Contains(err.Error(), "mounted") || strings.Contains(err.Error(), "in use")) {
		t.Errorf("CheckFlashTarget(%s) = %v, want a refusal", root, err)
	}
}

func TestPrepareErrors(t *testing.T) {
	repo := t.TempDir()
	if _, err := Prepare(Options{Repo: repo, Instance: "oepc-amd64", Version: "bad version"}); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("bad version: %v", err)
	}
	if _, err := Prepare(Options{Repo: repo, Instance: "nope", Version: "v1"}); err == nil || !strings.Contains(err.Error(), `instance "nope"`) {
		t.Errorf("missing instance: %v", err)
	}
}

// TestPrepare prepares the real amd64 instance into a temporary work
// directory and checks the generated parts.
func TestPrepare(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Programs {
		if _, err := os.Stat(filepath.Join(repo, "appliance", p, "main.go")); err != nil {
			t.Skipf("appliance/%s not in this checkout yet", p)
		}
	}
	work := t.TempDir()
	in, err := Prepare(Options{Repo: repo, Instance: "oepc-amd64", WorkDir: work, Version: "v1.2.3",
		ExtraFlags: map[string][]string{"oepcd": {"--bootstrap=/ip4/10.0.2.100/tcp/4001/p2p/x"}},
		UpdateHost: "127.0.0.1", UpdatePort: "8080"})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Password) != 40 {
		t.Errorf("image password %d chars, want 40", len(in.Password))
	}
	pwFile := filepath.Join(in.ConfigHome, "gokrazy", "http-password.txt")
	if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v", pwFile, fi, err)
	}
	cfg, err := os.ReadFile(filepath.Join(in.Dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"--bootstrap=/ip4/10.0.2.100/tcp/4001/p2p/x"`, `"Hostname": "127.0.0.1"`, `"HTTPPort": "8080"`} {
		if !strings.Contains(string(cfg), w) {
			t.Errorf("config lacks %s", w)
		}
	}
	mod, _ := os.ReadFile(filepath.Join(in.Dir, "builddir", "go.mod"))
	if !strings.Contains(string(mod), "replace oepc.dev/oepcos => "+repo) {
		t.Errorf("replace not rewritten:\n%s", mod)
	}
	// Close removes the password gok ran with.
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pwFile); !os.IsNotExist(err) {
		t.Errorf("%s still there after Close: %v", pwFile, err)
	}
	// An update runs with the box's password.
	in2, err := Prepare(Options{Repo: repo, Instance: "oepc-amd64", WorkDir: work, Version: "v2", Password: "the-box-password-0123"})
	if err != nil {
		t.Fatal(err)
	}
	defer in2.Close()
	if b, _ := os.ReadFile(filepath.Join(in2.ConfigHome, "gokrazy", "http-password.txt")); string(b) != "the-box-password-0123" {
		t.Errorf("gok would run with %q, want the box's password", b)
	}
	// Flags for a program the instance does not have are an error.
	if _, err := Prepare(Options{Repo: repo, Instance: "oepc-amd64", WorkDir: work, Version: "v3",
		ExtraFlags: map[string][]string{"nosuchd": {"--x"}}}); err == nil {
		t.Error("flags for an unknown program accepted")
	}
}

// TestPermSizeKB checks the /perm computation against what gok printed for
// a 2 GiB image file (mkfs.ext4 -F -E offset=1157627904 FILE 966639).
func TestPermSizeKB(t *testing.T) {
	if got := PermSizeKB(2 << 30); got != 966639 {
		t.Errorf("PermSizeKB(2 GiB) = %d, want 966639", got)
	}
	if permStartBytes != 1157627904 {
		t.Errorf("permStartBytes = %d, want 1157627904", permStartBytes)
	}
}

// TestPrepareMakesNoSharedSecrets: two builds from one checkout carry no
// secret a box keeps: each gets its own throw-away gokrazy password, no API
// token is seeded, and nothing is kept under the work directory afterwards.
func TestPrepareMakesNoSharedSecrets(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	var pws []string
	for _, v := range []string{"v1", "v2"} {
		in, err := Prepare(Options{Repo: repo, Instance: "oepc-amd64", WorkDir: work, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.mkfsPerm(context.Background(), filepath.Join(t.TempDir(), "perm.img"), 0, 8<<10); err != nil {
			t.Fatal(err)
		}
		filepath.WalkDir(filepath.Join(in.Dir, "perm-seed"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Errorf("build %s seeds %s into /perm", v, p)
			}
			return nil
		})
		pws = append(pws, in.Password)
		in.Close()
	}
	if pws[0] == pws[1] {
		t.Errorf("two builds share the gokrazy password %q", pws[0])
	}
	filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			for _, pw := range pws {
				if strings.Contains(string(b), pw) {
					t.Errorf("%s keeps a build's gokrazy password", p)
				}
			}
		}
		return nil
	})
}

// TestUpdateChecksPassword: an update without the box's password, or with a
// wrong one, stops before anything is built, with an error that says what
// to do.
func TestUpdateChecksPassword(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "gokrazy" || p != "right-password-0123" || r.URL.Path != "/update/features" {
			http.Error(w, "invalid username/password", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("partuuid,updatehash,gpt,"))
	}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	work := t.TempDir()
	prep := func(pw string) *Instance {
		in, err := Prepare(Options{Repo: repo, Instance: "oepc-amd64", WorkDir: work, Version: "v1",
			UpdateHost: host, UpdatePort: port, Password: pw, Log: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close() })
		return in
	}
	ctx := context.Background()
	if err := prep("").Update(ctx, false); err == nil || !strings.Contains(err.Error(), "PASSWORD_FILE") {
		t.Errorf("no password: %v, want an error naming PASSWORD_FILE", err)
	}
	if err := prep("wrong-password-0123").Update(ctx, false); !errors.Is(err, ErrWrongPassword) || !strings.Contains(err.Error(), "first boot") {
		t.Errorf("wrong password: %v, want %v", err, ErrWrongPassword)
	}
	if err := prep("right-password-0123").CheckPassword(ctx); err != nil {
		t.Errorf("right password: %v", err)
	}
}

func TestRedactWriter(t *testing.T) {
	var b strings.Builder
	w := &redactWriter{w: &b, secret: "s3cret-pw"}
	io.WriteString(w, "http://gokrazy:s3cr")
	io.WriteString(w, "et-pw@oepc/\nnext s3cret-pw")
	w.Flush()
	if got := b.String(); got != "http://gokrazy:xxxxx@oepc/\nnext xxxxx" {
		t.Errorf("got %q", got)
	}
}
