package bootguard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"oepc.dev/oepcos/packages/atomicfile"
)

// Per-box secrets.
//
// An image file is the same for every box flashed from it, so it carries
// neither the box's API token nor a gokrazy password anyone keeps: the image
// build puts a random gokrazy password into the root file system
// (/etc/gokr-pw.txt) and forgets it, and seeds no token. At its first boot
// the box makes its own:
//
//   - oepcd creates the API token (/perm/home/oepcd/api.token) as it does
//     on any first start;
//   - bootguard (Secrets) creates the gokrazy password in /perm/gokr-pw.txt,
//     which gokrazy reads in preference to /etc/gokr-pw.txt. gokrazy reads
//     its password once, early in its own boot (gokrazy.Boot), so bootguard
//     then asks gokrazy to reboot;
//   - on the next boot, gokrazy runs with the box's password, and bootguard
//     shows both secrets once, on every Linux console of the box (serial
//     and screen) and in its gokrazy log, then notes that it has.
//
// A box flashed before per-box secrets existed (bootguard has confirmed a
// boot, but /perm/gokr-pw.txt is missing) gets a new API token too: its old
// one came from the build machine and was shared by every box built there.

// SecretsConfig wires the first-boot step to the box.
type SecretsConfig struct {
	// PasswordFile is where gokrazy looks first (/perm/gokr-pw.txt).
	PasswordFile string
	// TokenFile is oepcd's API token (/perm/home/oepcd/api.token).
	TokenFile string
	// StateDir is bootguard's state directory; it holds the note that the
	// secrets were shown (secrets-shown) and good.json.
	StateDir string
	// TokenWait bounds the wait for oepcd to create the token (default 2
	// minutes); without it the secrets are not shown this boot.
	TokenWait time.Duration
	// Reboot asks gokrazy to reboot (with the password it runs with now).
	Reboot func(context.Context) error
	// Accepts reports whether gokrazy accepts password (nil: not checked).
	Accepts func(ctx context.Context, password string) (bool, error)
	// Show puts the secrets in front of the owner (the consoles).
	Show   func(Secrets)
	Logger *slog.Logger
}

// Secrets are what the owner needs from a box.
type Secrets struct {
	GokrazyPassword string
	APIToken        string
	// Active says whether gokrazy was seen accepting GokrazyPassword.
	Active bool
}

// SecretsOutcome says what Secrets did this boot.
type SecretsOutcome string

// The outcomes of EnsureSecrets.
const (
	SecretsCreated      SecretsOutcome = "created; rebooting"
	SecretsShown        SecretsOutcome = "shown"
	SecretsInPlace      SecretsOutcome = "in place"
	SecretsNotShown     SecretsOutcome = "not shown yet"
	shownNote                          = "secrets-shown"
	passwordRandomBytes                = 20
	tokenRandomBytes                   = 32
)

// EnsureSecrets runs once per boot, before the boot is judged: it makes the
// box's gokrazy password at first boot (and reboots so that gokrazy uses
// it), and shows the secrets on the boot after.
func EnsureSecrets(ctx context.Context, cfg SecretsConfig) (SecretsOutcome, error) {
	if cfg.PasswordFile == "" || cfg.TokenFile == "" || cfg.StateDir == "" || cfg.Reboot == nil || cfg.Show == nil {
		return "", errors.New("bootguard: PasswordFile, TokenFile, StateDir, Reboot and Show are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.TokenWait <= 0 {
		cfg.TokenWait = 2 * time.Minute
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return "", fmt.Errorf("bootguard: state directory: %w", err)
	}
	pw, err := readSecret(cfg.PasswordFile)
	if errors.Is(err, fs.ErrNotExist) {
		return createSecrets(ctx, cfg, log)
	}
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, shownNote)); err == nil {
		log.Info("bootguard: this box's own gokrazy password and API token are in place (shown at first boot)",
			"password_file", cfg.PasswordFile, "token_file", cfg.TokenFile)
		return SecretsInPlace, nil
	}
	tok, err := waitSecret(ctx, cfg.TokenFile, cfg.TokenWait)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		log.Error("bootguard: oepcd has not created its API token; the secrets are shown at a later boot",
			"token_file", cfg.TokenFile, "err", err)
		return SecretsNotShown, nil
	}
	s := Secrets{GokrazyPassword: pw, APIToken: tok}
	if cfg.Accepts != nil {
		ok, err := cfg.Accepts(ctx, pw)
		if err != nil {
			log.Warn("bootguard: could not ask gokrazy whether it uses this box's password", "err", err)
		}
		s.Active = ok
		if err == nil && !ok {
			log.Error("bootguard: gokrazy does not use this box's password yet; it does after the next reboot",
				"password_file", cfg.PasswordFile)
		}
	}
	cfg.Show(s)
	if err := atomicfile.Write(filepath.Join(cfg.StateDir, shownNote), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("bootguard: %w", err)
	}
	return SecretsShown, nil
}

func createSecrets(ctx context.Context, cfg SecretsConfig, log *slog.Logger) (SecretsOutcome, error) {
	// good.json exists only once bootguard has judged a boot, which it does
	// after this step: a box that has it ran an image from before per-box
	// secrets, with a token from the build machine. Replace that token.
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "good.json")); err == nil {
		tok, err := randomHex(tokenRandomBytes)
		if err != nil {
			return "", err
		}
		if err := atomicfile.Write(cfg.TokenFile, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("bootguard: new API token: %w", err)
		}
		log.Info("bootguard: replaced the API token that came with an older image by this box's own", "token_file", cfg.TokenFile)
	}
	pw, err := randomHex(passwordRandomBytes)
	if err != nil {
		return "", err
	}
	if err := os.Remove(filepath.Join(cfg.StateDir, shownNote)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("bootguard: %w", err)
	}
	if err := atomicfile.Write(cfg.PasswordFile, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("bootguard: gokrazy password: %w", err)
	}
	log.Info("bootguard: first boot: made this box's own gokrazy password; rebooting so that gokrazy uses it (the box shows it after the reboot)",
		"password_file", cfg.PasswordFile)
	if err := cfg.Reboot(ctx); err != nil {
		if ctx.Err() != nil {
			// gokrazy stops its services (bootguard too) before it reboots.
			return SecretsCreated, nil
		}
		return "", fmt.Errorf("bootguard: reboot after making the gokrazy password (it takes effect at the next reboot): %w", err)
	}
	return SecretsCreated, nil
}

// readSecret reads a one-line secret; an empty or short file is an error
// that says what to do.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return "", fmt.Errorf("bootguard: %s holds no usable secret (%d characters); delete it and reboot to make a new one", path, len(s))
	}
	return s, nil
}

// waitSecret waits until path holds a secret.
func waitSecret(ctx context.Context, path string, wait time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		s, err := readSecret(path)
		if err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (%v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// ShowOnConsoles returns a Show that writes one structured line (slog text)
// to each active Linux console of the box (/sys/class/tty/console/active:
// the serial port and the screen) and logs it to log (gokrazy's log of
// bootguard, which only the gokrazy password opens).
func ShowOnConsoles(log *slog.Logger) func(Secrets) {
	return func(s Secrets) {
		attrs := []any{
			"gokrazy_user", "gokrazy", "gokrazy_password", s.GokrazyPassword,
			"api_token", s.APIToken, "gokrazy_uses_password", s.Active,
			"update_with", "make update BOX=<this box> PASSWORD_FILE=<a file holding gokrazy_password>",
		}
		const msg = "OEPC box secrets: this box's own gokrazy password and API token, shown once; save them now (README, The image)"
		log.Info(msg, attrs...)
		for _, dev := range consoles() {
			// Non-blocking: a serial port that never drains must not
			// hold up guarding the boot.
			f, err := os.OpenFile(dev, os.O_WRONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
			if err != nil {
				log.Warn("bootguard: cannot write to a console", "console", dev, "err", err)
				continue
			}
			slog.New(slog.NewTextHandler(f, nil)).Info(msg, attrs...)
			f.Close()
		}
	}
}

// consoles lists the device files of the active Linux consoles.
func consoles() []string {
	b, err := os.ReadFile("/sys/class/tty/console/active")
	if err != nil {
		return []string{"/dev/console"}
	}
	var out []string
	for _, n := range strings.Fields(string(b)) {
		if !strings.ContainsAny(n, "/.") {
			out = append(out, "/dev/"+n)
		}
	}
	if len(out) == 0 {
		out = []string{"/dev/console"}
	}
	return out
}
