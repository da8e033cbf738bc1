package role

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

	"oepc.dev/oepcos/packages/version"
)

// Program is the whole main function of a box program whose library has a
// flag parser and a Run: flags from args (the gokrazy instance config), a
// slog logger on stderr, run until SIGINT/SIGTERM, and the exit status
// (ExitConfig for a configuration no restart can fix).
func Program[C any](name string, args []string, stderr io.Writer,
	parse func(name string, args []string) (C, error),
	run func(ctx context.Context, cfg C, log *slog.Logger) error) int {
	cfg, err := parse(name, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitConfig
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("program", name, "version", version.Version)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return ExitStatus(log, run(ctx, cfg, log))
}
