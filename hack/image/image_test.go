package image

import (
	"bufio"
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
	if len(in.Password) != 40 || len(in.APIToken) != 64 {
		t.Errorf("password %d chars, token %d chars", len(in.Password), len(in.APIToken))
	}
	for _, p := range []string{"secrets/gokrazy/http-password.txt", "secrets/oepc-amd64/api.token"} {
		fi, err := os.Stat(filepath.Join(work, p))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, fi, err)
		}
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
	// A second Prepare reuses the secrets.
	in2, err := Prepare(Options{Repo: repo, Instance: "oepc-amd64", WorkDir: work, Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if in2.Password != in.Password || in2.APIToken != in.APIToken {
		t.Error("secrets regenerated instead of reused")
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
