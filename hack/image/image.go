// Package image builds, updates and flashes the OEPC OS gokrazy images.
//
// The instance configs and their gokrazy build directories are committed
// under appliance/instances/<instance>/ (config.json, builddir/go.mod,
// builddir/go.sum). A build never writes into them: Prepare copies an
// instance into a work directory (build/ by default, ignored by git), adds
// what must not be committed (the gokrazy password gok runs with, test-only
// flags) and runs gok there. gok itself is pinned in the repository's go.mod
// as a tool and run with "go tool gok".
//
// No secret a box keeps comes from here. An image is the same for every box
// flashed from it, so it seeds no API token, and its gokrazy password
// (/etc/gokr-pw.txt in the root file system) is random per build and kept
// nowhere else: at its first boot the box makes its own password and token
// and shows them to its owner once (packages/bootguard, secrets.go). An
// update (Options.Password) runs gok with the password that box showed.
// gok reads the password from $XDG_CONFIG_HOME/gokrazy/http-password.txt;
// that directory lives inside the prepared instance, mode 0700, and Close
// removes it.
package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Programs are the box's programs, in the order of the instance configs.
var Programs = []string{"oepcd", "storaged", "minerd", "relayd", "homed", "hdmid"}

// Support are programs in the image that are not roles of the box and do
// not report health: bootguard (keeps an OTA update only if it is healthy).
var Support = []string{"bootguard"}

// ProgramPackage is the import path of a box program.
func ProgramPackage(name string) string { return "oepc.dev/oepcos/appliance/" + name }

// DefaultImageBytes is the size of an image file: gokrazy needs at least
// 1200 MB plus the partition offset (boot, two roots, 100 MB /perm); 2 GiB
// leaves about 900 MB for /perm on the file. The file is sparse.
const DefaultImageBytes = 2 << 30

// Options say what to build.
type Options struct {
	// Repo is the repository root (holds go.mod and appliance/).
	Repo string
	// Instance is the name of a directory under appliance/instances.
	Instance string
	// Source is the committed instance directory; default
	// <Repo>/appliance/instances/<Instance>. Its builddir must sit four
	// levels below the repository (builddir/go.mod replaces oepc.dev/oepcos
	// with ../../../..).
	Source string
	// Programs that must exist under appliance/ (default Programs and
	// Support).
	Programs []string
	// WorkDir receives instances/, secrets/ and logs; <Repo>/build if empty.
	WorkDir string
	// Version is stamped into every OEPC program
	// (oepc.dev/oepcos/packages/version.Version).
	Version string
	// ExtraFlags appends command line flags to a program, by program name
	// (e.g. "oepcd": {"--bootstrap=/ip4/10.0.2.100/tcp/4001/p2p/12D3..."}).
	ExtraFlags map[string][]string
	// UpdateHost and UpdatePort set where "gok update" sends the image
	// (the box's name or address and its gokrazy HTTP port).
	UpdateHost string
	UpdatePort string
	// Password is the box's own gokrazy password (the one it showed at its
	// first boot), for Update. Without it, Prepare makes a random one for
	// the image, which nobody keeps: a build needs none.
	Password string
	// Log receives gok's and mkfs's output; os.Stderr if nil.
	Log io.Writer
}

// Instance is a prepared copy of an instance, ready for gok.
type Instance struct {
	Name      string
	Repo      string
	WorkDir   string
	ParentDir string // <work>/instances
	Dir       string // <work>/instances/<name>
	// ConfigHome is the $XDG_CONFIG_HOME gok runs with (holds
	// gokrazy/http-password.txt); Close removes it.
	ConfigHome string
	Version    string
	// Password is the gokrazy password gok runs with: the box's
	// (Options.Password) for an update, else the image's throw-away one.
	Password string
	// boxPassword: Password came from the owner (Options.Password).
	boxPassword bool
	// Config is the effective gok config written to Dir/config.json.
	Config map[string]any

	log io.Writer
}

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$`)

// Prepare copies the committed instance into the work directory and adds
// the generated parts. It fails with a clear error when the instance or one
// of its programs is missing.
func Prepare(opts Options) (*Instance, error) {
	if opts.Repo == "" || opts.Instance == "" {
		return nil, errors.New("image: Repo and Instance are required")
	}
	if !versionRE.MatchString(opts.Version) {
		return nil, fmt.Errorf("image: version %q: want 1-64 characters of [A-Za-z0-9._+~-]", opts.Version)
	}
	repo, err := filepath.Abs(opts.Repo)
	if err != nil {
		return nil, err
	}
	work := opts.WorkDir
	if work == "" {
		work = filepath.Join(repo, "build")
	}
	if work, err = filepath.Abs(work); err != nil {
		return nil, err
	}
	src := opts.Source
	if src == "" {
		src = filepath.Join(repo, "appliance", "instances", opts.Instance)
	}
	progs := opts.Programs
	if progs == nil {
		progs = append(slices.Clone(Programs), Support...)
	}
	if _, err := os.Stat(filepath.Join(src, "config.json")); err != nil {
		return nil, fmt.Errorf("image: instance %q: %w", opts.Instance, err)
	}
	for _, p := range progs {
		if _, err := os.Stat(filepath.Join(repo, "appliance", p, "main.go")); err != nil {
			return nil, fmt.Errorf("image: program %s is missing from this checkout (appliance/%s/main.go): %w", p, p, err)
		}
	}
	in := &Instance{
		Name:       opts.Instance,
		Repo:       repo,
		WorkDir:    work,
		ParentDir:  filepath.Join(work, "instances"),
		Dir:        filepath.Join(work, "instances", opts.Instance),
		ConfigHome: filepath.Join(work, "instances", opts.Instance, "gokrazy-config"),
		Version:    opts.Version,
		log:        opts.Log,
	}
	if in.log == nil {
		in.log = os.Stderr
	}
	if err := os.RemoveAll(in.Dir); err != nil {
		return nil, err
	}
	if err := copyTree(src, in.Dir); err != nil {
		return nil, fmt.Errorf("image: copying instance: %w", err)
	}
	// The builddir copy keeps its relative replace (../../../..) valid only
	// if it sits at the same depth below the repository. Point it at the
	// repository explicitly instead.
	gomod := filepath.Join(in.Dir, "builddir", "go.mod")
	if err := rewriteReplace(gomod, repo); err != nil {
		return nil, err
	}
	// Every module the OEPC programs need is summed in the repository's
	// go.sum; give the build directory all of them so the build needs no
	// checksum lookups beyond what the committed files pin.
	if err := mergeGoSum(filepath.Join(in.Dir, "builddir", "go.sum"), filepath.Join(repo, "go.sum")); err != nil {
		return nil, err
	}

	in.Password, in.boxPassword = strings.TrimSpace(opts.Password), opts.Password != ""
	if in.boxPassword && (len(in.Password) < 8 || strings.ContainsAny(in.Password, " \t\r\n")) {
		return nil, errors.New("image: the box's gokrazy password looks wrong (too short or with blanks); use the gokrazy_password the box showed at its first boot (README, The image)")
	}
	if !in.boxPassword {
		b := make([]byte, 20)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		in.Password = hex.EncodeToString(b)
	}
	if err := os.MkdirAll(filepath.Join(in.ConfigHome, "gokrazy"), 0o700); err != nil {
		return nil, err
	}
	// gok wants the password without a trailing newline.
	if err := os.WriteFile(filepath.Join(in.ConfigHome, "gokrazy", "http-password.txt"), []byte(in.Password), 0o600); err != nil {
		return nil, err
	}

	b, err := os.ReadFile(filepath.Join(in.Dir, "config.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &in.Config); err != nil {
		return nil, fmt.Errorf("image: %s/config.json: %w", src, err)
	}
	pc, _ := in.Config["PackageConfig"].(map[string]any)
	for prog, flags := range opts.ExtraFlags {
		pkg := ProgramPackage(prog)
		c, ok := pc[pkg].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("image: extra flags for %s, which the instance does not configure", prog)
		}
		old, _ := c["CommandLineFlags"].([]any)
		for _, f := range flags {
			old = append(old, f)
		}
		c["CommandLineFlags"] = old
	}
	if opts.UpdateHost != "" || opts.UpdatePort != "" {
		u, _ := in.Config["Update"].(map[string]any)
		if u == nil {
			u = map[string]any{}
		}
		if opts.UpdateHost != "" {
			u["Hostname"] = opts.UpdateHost
		}
		if opts.UpdatePort != "" {
			u["HTTPPort"] = opts.UpdatePort
		}
		in.Config["Update"] = u
	}
	out, err := json.MarshalIndent(in.Config, "", "    ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(in.Dir, "config.json"), append(out, '\n'), 0o644); err != nil {
		return nil, err
	}
	return in, nil
}

// Close removes the gokrazy password gok ran with from the work
// directory.
func (in *Instance) Close() error { return os.RemoveAll(in.ConfigHome) }

// gok runs "go tool gok" with args against the prepared instance, from the
// repository (which pins gok), and returns its combined output (also copied
// to the log).
func (in *Instance) gok(ctx context.Context, args ...string) (string, error) {
	sub := args[0]
	args = append([]string{"tool", "gok", "--parent_dir", in.ParentDir, "-i", in.Name}, args...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = in.Repo
	env, err := in.env(ctx)
	if err != nil {
		return "", err
	}
	cmd.Env = env
	cmd.WaitDelay = 10 * time.Second
	var buf bytes.Buffer
	// gok prints its web interface URL with the password in it.
	rw := &redactWriter{w: io.MultiWriter(&buf, in.log), secret: in.Password}
	cmd.Stdout = rw
	cmd.Stderr = cmd.Stdout
	fmt.Fprintf(in.log, "image: running %s\n", strings.Join(cmd.Args, " "))
	err = cmd.Run()
	rw.Flush()
	if err != nil {
		return buf.String(), fmt.Errorf("image: gok %s: %w", sub, err)
	}
	return buf.String(), nil
}

// redactWriter replaces secret by "xxxxx" in what passes through it, line
// by line (a secret never spans lines).
type redactWriter struct {
	w      io.Writer
	secret string
	buf    []byte
}

func (r *redactWriter) Write(p []byte) (int, error) {
	r.buf = append(r.buf, p...)
	if i := bytes.LastIndexByte(r.buf, '\n'); i >= 0 {
		out := r.buf[:i+1]
		if r.secret != "" {
			out = bytes.ReplaceAll(out, []byte(r.secret), []byte("xxxxx"))
		}
		if _, err := r.w.Write(out); err != nil {
			return 0, err
		}
		r.buf = append(r.buf[:0], r.buf[i+1:]...)
	}
	return len(p), nil
}

// Flush writes what is left after the last newline.
func (r *redactWriter) Flush() {
	if len(r.buf) > 0 {
		out := r.buf
		if r.secret != "" {
			out = bytes.ReplaceAll(out, []byte(r.secret), []byte("xxxxx"))
		}
		r.w.Write(out)
		r.buf = nil
	}
}

// env is the environment for gok: the secrets directory as
// $XDG_CONFIG_HOME and the version stamp in GOFLAGS (gok passes its
// environment to every "go build").
func (in *Instance) env(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOFLAGS").Output()
	if err != nil {
		return nil, fmt.Errorf("image: go env GOFLAGS: %w", err)
	}
	goflags := strings.TrimSpace(string(out))
	if strings.Contains(goflags, "-ldflags") {
		return nil, fmt.Errorf("image: GOFLAGS already holds -ldflags (%q); unset it", goflags)
	}
	goflags = strings.TrimSpace(goflags + " -ldflags=-X=oepc.dev/oepcos/packages/version.Version=" + in.Version)
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GOFLAGS=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") ||
			strings.HasPrefix(kv, "GOKRAZY_PARENT_DIR=") || strings.HasPrefix(kv, "GOKRAZY_INSTANCE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOFLAGS="+goflags, "XDG_CONFIG_HOME="+in.ConfigHome), nil
}

// Result describes a built image.
type Result struct {
	Path string
	// SizeBytes is the image's apparent size; AllocatedBytes what it
	// occupies on disk (it is sparse).
	SizeBytes      int64
	AllocatedBytes int64
	// PermOffset and PermKB locate the ext4 /perm file system.
	PermOffset int64
	PermKB     int64
	// RootBytes is the size of the root file system (squashfs) in root
	// partition A: what an OTA update transfers besides the boot files.
	RootBytes int64
	Duration  time.Duration
}

var mkfsRE = regexp.MustCompile(`mkfs\.ext4 -F -E offset=(\d+) (\S+) (\d+)`)

// Build writes a full disk image (boot, root A/B, /perm) to out. sizeBytes
// is the image size (DefaultImageBytes if 0). The /perm partition gets an
// empty ext4 file system (with /perm/home): the box makes its secrets there
// at first boot.
func (in *Instance) Build(ctx context.Context, out string, sizeBytes int64) (Result, error) {
	start := time.Now()
	if sizeBytes == 0 {
		sizeBytes = DefaultImageBytes
	}
	out, err := filepath.Abs(out)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return Result{}, err
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return Result{}, errors.New("image: mkfs.ext4 not found; install e2fsprogs (hack/install-deps.sh e2fsprogs)")
	}
	tmp := out + ".tmp"
	os.Remove(tmp)
	output, err := in.gok(ctx, "overwrite", "--full", tmp, "--target_storage_bytes", strconv.FormatInt(sizeBytes, 10))
	if err != nil {
		os.Remove(tmp)
		return Result{}, err
	}
	m := mkfsRE.FindStringSubmatch(output)
	if m == nil {
		os.Remove(tmp)
		return Result{}, errors.New("image: gok did not print the /perm offset (mkfs.ext4 -F -E offset=...); has gok changed?")
	}
	res := Result{Path: out}
	res.PermOffset, _ = strconv.ParseInt(m[1], 10, 64)
	res.PermKB, _ = strconv.ParseInt(m[3], 10, 64)
	if res.PermOffset != permStartBytes {
		os.Remove(tmp)
		return Result{}, fmt.Errorf("image: gok put /perm at %d, not at %d: has gokrazy's partition layout changed? (flash -fit relies on it)", res.PermOffset, permStartBytes)
	}
	if res.PermOffset <= 0 || res.PermKB < 64<<10 || res.PermOffset+res.PermKB*1024 > sizeBytes {
		os.Remove(tmp)
		return Result{}, fmt.Errorf("image: implausible /perm location: offset %d, %d KiB in a %d-byte image", res.PermOffset, res.PermKB, sizeBytes)
	}
	if err := in.mkfsPerm(ctx, tmp, res.PermOffset, res.PermKB); err != nil {
		os.Remove(tmp)
		return Result{}, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return Result{}, err
	}
	res.SizeBytes, res.AllocatedBytes = fileSizes(out)
	if res.RootBytes, err = squashfsSize(out, res.PermOffset-rootAFromPerm); err != nil {
		return Result{}, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// gokrazy's layout: boot (100 MB), root A and root B (500 MB each), then
// /perm, each MB being 1024*1024 bytes.
const rootAFromPerm = 1000 << 20

// squashfsSize reads bytes_used from the squashfs superblock at off.
func squashfsSize(img string, off int64) (int64, error) {
	f, err := os.Open(img)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sb := make([]byte, 96)
	if _, err := f.ReadAt(sb, off); err != nil {
		return 0, fmt.Errorf("image: reading the root superblock: %w", err)
	}
	if string(sb[:4]) != "hsqs" {
		return 0, fmt.Errorf("image: no squashfs root file system at offset %d", off)
	}
	return int64(binary.LittleEndian.Uint64(sb[40:48])), nil
}

// mkfsPerm creates the ext4 /perm file system inside the image file, with
// an empty /perm/home and no secret: the box makes its own at first boot.
func (in *Instance) mkfsPerm(ctx context.Context, img string, offset, kb int64) error {
	seed := filepath.Join(in.Dir, "perm-seed")
	if err := os.RemoveAll(seed); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(seed, "home"), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-F", "-q", "-L", "perm",
		"-E", "offset="+strconv.FormatInt(offset, 10), "-d", seed, img, strconv.FormatInt(kb, 10))
	cmd.Stdout, cmd.Stderr = in.log, in.log
	fmt.Fprintf(in.log, "image: running %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("image: creating /perm: %v: %w", cmd.Args, err)
	}
	return nil
}

// Update builds the instance and sends it to the running box named in the
// config (Options.UpdateHost/UpdatePort) with "gok update"; the box
// switches to the other root partition and reboots. With testboot, the box
// boots the new root once and falls back unless it is marked good. It needs
// the box's own password (Options.Password) and checks it with the box
// before it builds anything.
func (in *Instance) Update(ctx context.Context, testboot bool) error {
	if !in.boxPassword {
		return errors.New("image: an update needs the box's gokrazy password: the gokrazy_password the box showed at its first boot (make update BOX=... PASSWORD_FILE=FILE; README, The image)")
	}
	if err := in.CheckPassword(ctx); err != nil {
		return err
	}
	args := []string{"update"}
	if testboot {
		args = append(args, "--testboot")
	}
	_, err := in.gok(ctx, args...)
	return err
}

// ErrWrongPassword is the box refusing the password of an update.
var ErrWrongPassword = errors.New("update refused: wrong password — use the gokrazy_password the box showed at its first boot (README, The image)")

// UpdateURL is the box's gokrazy web interface, from the config.
func (in *Instance) UpdateURL() string {
	host, port := "", "80"
	if u, ok := in.Config["Update"].(map[string]any); ok {
		if h, ok := u["Hostname"].(string); ok {
			host = h
		}
		if p, ok := u["HTTPPort"].(string); ok && p != "" {
			port = p
		}
	}
	if host == "" {
		host, _ = in.Config["Hostname"].(string)
	}
	return "http://" + net.JoinHostPort(host, port)
}

// CheckPassword asks the box whether it accepts the password
// (GET /update/features, which gokrazy serves only with it).
func (in *Instance) CheckPassword(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	base := in.UpdateURL()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/update/features", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("gokrazy", in.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("image: cannot reach the box's gokrazy interface at %s (is BOX=host[:port] right, and the box on?): %w", base, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		return fmt.Errorf("image: %s: %w", base, ErrWrongPassword)
	}
	return fmt.Errorf("image: %s/update/features answered HTTP %d; is this an OEPC box (gokrazy)?", base, resp.StatusCode)
}

func rewriteReplace(gomod, repo string) error {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`(?m)^replace oepc\.dev/oepcos => .*$`)
	if !re.Match(b) {
		return fmt.Errorf("image: %s lacks the replace directive for oepc.dev/oepcos", gomod)
	}
	b = re.ReplaceAll(b, []byte("replace oepc.dev/oepcos => "+repo))
	return os.WriteFile(gomod, b, 0o644)
}

func mergeGoSum(dst, src string) error {
	seen := map[string]bool{}
	var lines []string
	for _, p := range []string{dst, src} {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l != "" && !seen[l] {
				seen[l] = true
				lines = append(lines, l)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
	}
	return os.WriteFile(dst, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(t, b, 0o644)
	})
}
