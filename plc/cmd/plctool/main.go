// Command plctool drives a power-line modem on a serial port directly, for
// whoever debugs a modem at home:
//
//	plctool -port /dev/ttyUSB0 -modem insteon info
//	plctool -port /dev/ttyUSB0 -modem insteon on 1A.2B.3C
//	plctool -port /dev/ttyUSB0 -modem insteon dim 1A.2B.3C 128
//	plctool -port /dev/ttyUSB0 -modem x10 dim A1 11
//	plctool -modem insteon monitor
//
// monitor prints one JSON object per frame received, with at least "hex"
// (the whole frame) and "cmd". Each modem family lives in its own file
// (insteon.go, x10.go) and registers itself in modems from init.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"oepc.dev/oepcos/plc/serialport"
)

// modem is one modem family's half of plctool.
type modem struct {
	// baud is the serial speed main opens the port at.
	baud int
	// usage lists the family's commands and address forms.
	usage string
	// run runs one command (info, on, off, dim, status, monitor) on port
	// and closes it. monitor runs until ctx ends. A usageError is a
	// mistake in the arguments (exit status 2).
	run func(ctx context.Context, port io.ReadWriteCloser, cmd string, args []string, stdout io.Writer, log *slog.Logger) error
}

// modems is filled by each family's file in init.
var modems = map[string]modem{}

// usageError: the command line is wrong, not the modem.
type usageError struct{ error }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

var commands = []string{"info", "on", "off", "dim", "status", "monitor"}

func usage(w io.Writer, fs *flag.FlagSet) {
	var names []string
	for n := range modems {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "usage: plctool [-port DEV] -modem insteon|x10 COMMAND [ARGS]\ncommands: %s\n\n", strings.Join(commands, ", "))
	for _, n := range names {
		fmt.Fprintln(w, modems[n].usage)
	}
	fmt.Fprintln(w, "flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plctool", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.String("port", "", "serial device (default: the first of "+strings.Join(serialport.DefaultPatterns, ", ")+")")
	family := fs.String("modem", "insteon", "modem family: insteon or x10")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline of one command (not monitor)")
	verbose := fs.Bool("v", false, "log every retry and fault to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, fs)
			return 0
		}
		fmt.Fprintf(stderr, "plctool: %v\n", err)
		usage(stderr, fs)
		return 2
	}
	m, ok := modems[*family]
	if !ok {
		if *family == "x10" {
			fmt.Fprintln(stderr, "plctool: x10 support is in plc/x10 and not built into this plctool yet; use -modem insteon")
		} else {
			fmt.Fprintf(stderr, "plctool: unknown modem %q (insteon or x10)\n", *family)
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		usage(stderr, fs)
		return 2
	}
	cmd := rest[0]
	known := false
	for _, c := range commands {
		known = known || c == cmd
	}
	if !known {
		fmt.Fprintf(stderr, "plctool: unknown command %q\n", cmd)
		usage(stderr, fs)
		return 2
	}

	lvl := slog.LevelWarn
	if *verbose {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	pcfg := serialport.Config{Path: *port, Baud: m.baud, Logger: log}
	if *port != "" {
		pcfg.Patterns = []string{} // the port asked for, and no other
	}
	p, err := serialport.Open(pcfg)
	if err != nil {
		fmt.Fprintf(stderr, "plctool: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd == "monitor" {
		fmt.Fprintf(stderr, "plctool: monitoring %s; Ctrl-C to stop\n", p.Path())
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	if err := m.run(ctx, p, cmd, rest[1:], stdout, log); err != nil {
		fmt.Fprintf(stderr, "plctool: %s: %v\n", cmd, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}
