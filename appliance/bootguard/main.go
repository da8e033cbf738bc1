// Command bootguard makes the box's own gokrazy password at its first boot
// and shows it with the API token once (packages/bootguard, secrets.go),
// and keeps an OTA update only if the box comes up healthy on it, falling
// back to the previous root partition otherwise. It decides once per boot,
// then idles until stopped.
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
	pwFile := flag.String("password-file", bootguard.PasswordFiles[0], "the box's own gokrazy password, made at first boot (gokrazy reads it in preference to the image's)")
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
	password := func(ctx context.Context) (string, error) {
		return bootguard.GokrazyPassword(ctx, *socket, append([]string{*pwFile}, bootguard.PasswordFiles[1:]...)...)
	}
	sec, err := bootguard.EnsureSecrets(ctx, bootguard.SecretsConfig{
		PasswordFile: *pwFile, TokenFile: *tokenFile, StateDir: *data,
		Reboot: bootguard.GokrazyReboot(*socket, password),
		Accepts: func(ctx context.Context, pw string) (bool, error) {
			return bootguard.GokrazyAccepts(ctx, *socket, pw)
		},
		Show:   bootguard.ShowOnConsoles(log),
		Logger: log,
	})
	if errors.Is(err, context.Canceled) {
		return
	}
	if err != nil {
		// Go on guarding the boot: an update must still be able to fall
		// back even if the secrets step failed.
		log.Error("bootguard: per-box secrets", "err", err)
	}
	if sec == bootguard.SecretsCreated {
		// gokrazy reboots the box and stops bootguard first.
		<-ctx.Done()
		return
	}
	rollback := func(ctx context.Context) error {
		pw, err := password(ctx)
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
