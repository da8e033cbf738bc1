// Command stsync measures the Syncthing baseline: it makes a random file of
// -mib MiB in a temporary directory, syncs it between two loopback
// Syncthing devices with syncthingbench.Sync (installing Debian's syncthing
// first when missing and root) and prints the delivery throughput.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"oepc.dev/oepcos/hack/bench/syncthingbench"
)

func main() {
	mib := flag.Int("mib", 1024, "file size in MiB")
	timeout := flag.Duration("timeout", 15*time.Minute, "overall timeout")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*mib, *timeout, log); err != nil {
		fmt.Fprintln(os.Stderr, "stsync:", err)
		os.Exit(1)
	}
}

func run(mib int, timeout time.Duration, log *slog.Logger) error {
	if mib <= 0 {
		return fmt.Errorf("-mib must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if _, err := syncthingbench.EnsureInstalled(ctx); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "stsync-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	src := filepath.Join(dir, fmt.Sprintf("payload-%dMiB.bin", mib))
	if err := randomFile(src, int64(mib)<<20); err != nil {
		return err
	}
	res, err := syncthingbench.Sync(ctx, dir, src, log)
	if err != nil {
		return err
	}
	fmt.Printf("syncthing: %d MiB in %v: %.1f MB/s, peak RSS %.0f/%.0f MiB\n",
		res.Bytes>>20, res.Duration.Round(time.Millisecond),
		float64(res.Bytes)/res.Duration.Seconds()/1e6,
		float64(res.PeakRSSA)/(1<<20), float64(res.PeakRSSB)/(1<<20))
	return nil
}

func randomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
