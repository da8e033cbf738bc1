// Command bootguard keeps an OTA update only if the box comes up healthy on
// it and otherwise falls back to the previous root partition (see
// packages/bootguard). It decides once per boot, then idles until stopped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"oepc.dev/oepcos/packages/bootguard"
	"oepc.dev/oepcos/packages/version"
)

func main() {
	data := flag.String("data", "/perm/home/bootguard", "state directory (good.json)")
	probation := flag.Duration("probation", 3*time.Minute, "how long an updated version may take to become healthy")
	apiURL := flag.String("api-url", "http://127.0.0.1:7070/v1/health", "oepcd's health endpoint")
	tokenFile := flag.String("token-file", "/perm/home/oepcd/api.token", "oepcd's API token")
	socket := flag.String("gokrazy-socket", bootguard.GokrazySocket, "gokrazy's local HTTP socket")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("program", "bootguard", "version", version.Version)
	if flag.NArg() > 0 || *probation <= 0 {
		log.Error("configuration error; not restarting", "args", flag.Args(), "probation", *probation)
		os.Exit(125)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		log.Error("cannot read the kernel command line; not guarding this boot", "err", err)
		os.Exit(125)
	}
	rollback := func(ctx context.Context) error {
		pw, err := bootguard.GokrazyPassword()
		if err != nil {
			return err
		}
		return bootguard.GokrazyRollback(*socket, pw)(ctx)
	}
	out, err := bootguard.Run(ctx, bootguard.Config{
		StateDir: *data, Cmdline: string(cmdline), Version: version.Version,
		Probation: *probation,
		Check: bootguard.APICheck(*apiURL, *tokenFile,
			[]string{"oepcd", "storaged", "minerd", "relayd", "homed", "hdmid"}),
		Rollback: rollback,
		Logger:   log,
	})
	if errors.Is(err, context.Canceled) {
		return
	}
	if err != nil {
		// Not a restart loop: report and idle; the next boot decides again.
		log.Error("bootguard could not decide", "err", err)
	} else {
		log.Info(fmt.Sprintf("bootguard: %s", out))
	}
	<-ctx.Done()
}
