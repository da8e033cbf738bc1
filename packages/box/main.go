package box

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"oepc.dev/oepcos/packages/role"
	"oepc.dev/oepcos/packages/version"
)

// Main is oepcd's whole main function: flags from args, run until
// SIGINT/SIGTERM, exit status (role.ExitConfig for a configuration that no
// restart can fix).
func Main(args []string, stderr io.Writer) int {
	cfg, err := ParseFlags("oepcd", args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "oepcd:", err)
		return role.ExitConfig
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil)).With("program", "oepcd", "version", version.Version)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return role.ExitStatus(cfg.Logger, Run(ctx, cfg))
}
