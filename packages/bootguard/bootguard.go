// Package bootguard keeps an OTA update only if the new version comes up
// healthy, and otherwise falls back to the root partition that last was.
//
// gokrazy updates by writing the inactive root partition, pointing the
// kernel command line at it and rebooting. Its "testboot" (boot the new
// root once) relies on the Raspberry Pi firmware and does nothing on the
// x86-64 box, so the box guards updates itself: bootguard remembers the root
// partition (root= on /proc/cmdline) that was last seen healthy, in
// /perm/home/bootguard/good.json. When the box boots a different root (a
// fresh update) the new version is on probation: if it is not healthy
// within the probation time, bootguard asks gokrazy to switch back to the
// other root partition (the previous, known-good one) and reboot. When it
// is healthy, its root becomes the known-good one.
//
// Limits: the boot partition (kernel) is shared by both roots, so an update
// that breaks the kernel itself cannot be caught here; and the check is
// "the local API answers and no program reports an error".
package bootguard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"oepc.dev/oepcos/packages/atomicfile"
)

// State is what bootguard remembers on /perm.
type State struct {
	// Root is the root= argument of the known-good boot.
	Root string `json:"root"`
	// Version is the OEPC OS version that ran healthy on Root.
	Version   string    `json:"version"`
	Confirmed time.Time `json:"confirmed"`
	// RolledBack names the root bootguard last rejected, if any.
	RolledBack string `json:"rolled_back,omitempty"`
}

// Config wires bootguard to the box.
type Config struct {
	// StateDir holds good.json (normally /perm/home/bootguard).
	StateDir string
	// Cmdline is the kernel command line (contents of /proc/cmdline).
	Cmdline string
	// Version of the running build.
	Version string
	// Probation is how long a new root may take to become healthy.
	Probation time.Duration
	// Interval between health checks (default 5 s).
	Interval time.Duration
	// Check returns nil when the box is healthy.
	Check func(context.Context) error
	// Rollback switches to the other root partition and reboots.
	Rollback func(context.Context) error
	Logger   *slog.Logger
}

var rootRE = regexp.MustCompile(`(?:^|\s)root=(\S+)`)

// RootOf returns the root= argument of a kernel command line.
func RootOf(cmdline string) (string, error) {
	m := rootRE.FindStringSubmatch(cmdline)
	if m == nil {
		return "", fmt.Errorf("no root= on the kernel command line %q", cmdline)
	}
	return m[1], nil
}

// Outcome says what Run decided.
type Outcome string

// The outcomes of Run.
const (
	Confirmed  Outcome = "confirmed"   // healthy; root recorded as good
	RolledBack Outcome = "rolled back" // unhealthy new root; switched back
	Unhealthy  Outcome = "unhealthy"   // unhealthy, but no other root known to be good
)

// Run checks the running root once per boot and returns its decision. It
// returns an error only when it cannot decide (bad config, /perm
// unusable) or the rollback itself failed.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	if cfg.Check == nil || cfg.Rollback == nil || cfg.StateDir == "" || cfg.Probation <= 0 {
		return "", errors.New("bootguard: Check, Rollback, StateDir and a positive Probation are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	root, err := RootOf(cfg.Cmdline)
	if err != nil {
		return "", fmt.Errorf("bootguard: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return "", fmt.Errorf("bootguard: state directory: %w", err)
	}
	prev, err := load(cfg.StateDir)
	if err != nil {
		return "", err
	}
	onProbation := prev != nil && prev.Root != root
	log.Info("bootguard: checking this boot", "root", root, "this_version", cfg.Version,
		"known_good_root", rootOrNone(prev), "probation", onProbation, "limit", cfg.Probation)

	pctx, cancel := context.WithTimeout(ctx, cfg.Probation)
	defer cancel()
	var last error
	for {
		if last = cfg.Check(pctx); last == nil {
			break
		}
		select {
		case <-pctx.Done():
		case <-time.After(cfg.Interval):
			continue
		}
		break
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if last == nil {
		st := State{Root: root, Version: cfg.Version, Confirmed: time.Now().UTC()}
		if prev != nil && prev.RolledBack != root {
			st.RolledBack = prev.RolledBack
		}
		if err := save(cfg.StateDir, st); err != nil {
			return "", err
		}
		log.Info("bootguard: healthy; this root is now the known-good one", "root", root, "this_version", cfg.Version)
		return Confirmed, nil
	}
	if !onProbation {
		log.Error("bootguard: not healthy, and no other root is known to be good; staying", "root", root, "err", last)
		return Unhealthy, nil
	}
	log.Error("bootguard: the updated version did not become healthy; falling back to the previous root",
		"root", root, "this_version", cfg.Version, "fallback_root", prev.Root, "fallback_version", prev.Version, "err", last)
	prev.RolledBack = root
	if err := save(cfg.StateDir, *prev); err != nil {
		return "", err
	}
	if err := cfg.Rollback(ctx); err != nil {
		return "", fmt.Errorf("bootguard: rollback: %w", err)
	}
	return RolledBack, nil
}

func rootOrNone(s *State) string {
	if s == nil {
		return "(none yet)"
	}
	return s.Root
}

func load(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, "good.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bootguard: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil || st.Root == "" {
		// A damaged state file must not block the box: start over.
		slog.Warn("bootguard: ignoring a damaged good.json", "err", err)
		return nil, nil
	}
	return &st, nil
}

func save(dir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "good.json"), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("bootguard: %w", err)
	}
	return nil
}
