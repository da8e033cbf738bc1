package supernode

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

// Main is the supernode program's whole main function.
func Main(args []string, stderr io.Writer) int {
	cfg, err := ParseFlags("supernode", args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "supernode:", err)
		return role.ExitConfig
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil)).With("program", "supernode", "version", version.Version)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return role.ExitStatus(cfg.Logger, Run(ctx, cfg))
}
