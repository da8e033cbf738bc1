// Package image builds, updates and flashes the OEPC OS gokrazy images.
//
// The instance configs and their gokrazy build directories are committed
// under appliance/instances/<instance>/ (config.json, builddir/go.mod,
// builddir/go.sum). A build never writes into them: Prepare copies an
// instance into a work directory (build/ by default, ignored by git), adds
// what must not be committed (the gokrazy update password, a per-build API
// token, test-only flags) and runs gok there. gok itself is pinned in the
// repository's go.mod as a tool and run with "go tool gok".
//
// Secrets live in <work>/secrets/ (mode 0700):
//
//	gokrazy/http-password.txt   the gokrazy web UI and update password
//	                            (gok reads it through $XDG_CONFIG_HOME)
//	<instance>/api.token        the local API bearer token seeded into
//	                            /perm/home/oepcd/api.token of the image
//
// Both are generated on first use with crypto/rand and reused afterwards, so
// "make update" can talk to a box flashed from an earlier "make image".
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
	// NoAPIToken skips seeding /perm/home/oepcd/api.token (oepcd then
	// creates its own on first boot).
	NoAPIToken bool
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
	// gokrazy/http-password.txt).
	ConfigHome string
	Version    string
	// Password is the gokrazy update / web UI password.
	Password string
	// APIToken is the local API token seeded into /perm ("" with
	// NoAPIToken).
	APIToken string
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
		ConfigHome: filepath.Join(work, "secrets"),
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

	if err := os.MkdirAll(filepath.Join(in.ConfigHome, "gokrazy"), 0o700); err != nil {
		return nil, err
	}
	if in.Password, err = secretFile(filepath.Join(in.ConfigHome, "gokrazy", "http-password.txt"), 20); err != nil {
		return nil, err
	}
	if !opts.NoAPIToken {
		if err := os.MkdirAll(filepath.Join(in.ConfigHome, opts.Instance), 0o700); err != nil {
			return nil, err
		}
		if in.APIToken, err = secretFile(filepath.Join(in.ConfigHome, opts.Instance, "api.token"), 32); err != nil {
			return nil, err
		}
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
	cmd.Stdout = io.MultiWriter(&buf, in.log)
	cmd.Stderr = cmd.Stdout
	fmt.Fprintf(in.log, "image: running %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Run(); err != nil {
		return buf.String(), fmt.Errorf("image: gok %s: %w", sub, err)
	}
	return buf.String(), nil
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
// ext4 file system, seeded with the API token unless disabled.
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

// mkfsPerm creates the ext4 /perm file system inside the image file,
// populated from a seed tree (home/oepcd/api.token).
func (in *Instance) mkfsPerm(ctx context.Context, img string, offset, kb int64) error {
	seed := filepath.Join(in.Dir, "perm-seed")
	if err := os.RemoveAll(seed); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(seed, "home"), 0o755); err != nil {
		return err
	}
	if in.APIToken != "" {
		d := filepath.Join(seed, "home", "oepcd")
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "api.token"), []byte(in.APIToken+"\n"), 0o600); err != nil {
			return err
		}
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
// boots the new root once and falls back unless it is marked good.
func (in *Instance) Update(ctx context.Context, testboot bool) error {
	args := []string{"update"}
	if testboot {
		args = append(args, "--testboot")
	}
	_, err := in.gok(ctx, args...)
	return err
}

// secretFile returns the secret in path, creating it with n random bytes
// (hex) and mode 0600 when missing.
func secretFile(path string, n int) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("image: %s is empty; delete it to generate a new secret", path)
		}
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	s := hex.EncodeToString(buf)
	// gok wants the password without a trailing newline.
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		return "", err
	}
	return s, nil
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
