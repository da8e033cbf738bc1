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
	"strings"
	"syscall"

	"oepc.dev/oepcos/packages/health"
	"oepc.dev/oepcos/packages/version"
)

// ExitConfig is the exit status for configuration errors: gokrazy does not
// restart a program that exits with it.
const ExitConfig = 125

// Flags are the flags every role program accepts.
type Flags struct {
	Data      string
	HealthDir string
	LogLevel  string
}

// Register adds --data, --health-dir and --log-level for program name to fs.
func (f *Flags) Register(fs *flag.FlagSet, name string) {
	fs.StringVar(&f.Data, "data", "/perm/home/"+name, "state directory")
	fs.StringVar(&f.HealthDir, "health-dir", health.DefaultDir, "directory of the box's health sockets")
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// Logger builds the program's slog logger (text on w, gokrazy keeps it).
func (f *Flags) Logger(w io.Writer, name string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.LogLevel)); err != nil {
		return nil, &ConfigError{fmt.Errorf("--log-level %q: %v", f.LogLevel, err)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})).
		With("program", name, "version", version.Version), nil
}

// Main is the whole main function of a role program that is not enabled
// yet: it parses flags from args, runs the role until SIGINT/SIGTERM and
// returns the exit status (0, 1, or ExitConfig).
func Main(name, detail string, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f Flags
	f.Register(fs, name)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return ExitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments: %s\n", name, strings.Join(fs.Args(), " "))
		return ExitConfig
	}
	log, err := f.Logger(stderr, name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = Run(ctx, Config{Name: name, Detail: detail, StateDir: f.Data, HealthDir: f.HealthDir, Logger: log})
	return ExitStatus(log, err)
}

// ExitStatus maps Run's error to an exit status and logs it.
func ExitStatus(log *slog.Logger, err error) int {
	var ce *ConfigError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		log.Error("configuration error; not restarting", "err", err)
		return ExitConfig
	default:
		log.Error("exiting", "err", err)
		return 1
	}
}
