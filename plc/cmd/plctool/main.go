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
// (the whole frame) and "cmd". Each modem family lives in its own file and
// registers itself in modems.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/serialport"
)

// conn is a driver running on a port.
type conn interface {
	plc.Modem
	// Info describes the modem, one line.
	Info(ctx context.Context) (string, error)
}

// modem is one modem family's half of plctool.
type modem struct {
	baud int
	// levels says the range dim takes, for usage ("0-255").
	levels string
	// parseLevel reads dim's LEVEL in the family's own scale.
	parseLevel func(string) (plc.Level, error)
	// open starts the driver on port; onFrame (may be nil) gets every
	// frame received, as the JSON object monitor prints.
	open func(port io.ReadWriteCloser, log *slog.Logger, onFrame func(map[string]any)) (conn, error)
}

// modems is filled by each family's file (insteon.go, x10.go) in init.
var modems = map[string]modem{}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer, fs *flag.FlagSet) {
	var names []string
	for n, m := range modems {
		names = append(names, fmt.Sprintf("%s (dim %s)", n, m.levels))
	}
	sort.Strings(names)
	fmt.Fprintf(w, `usage: plctool [-port DEV] -modem insteon|x10 COMMAND
commands:
  info               describe the modem
  on ADDR            switch a device on  (Insteon 1A.2B.3C, X10 A1)
  off ADDR           switch a device off
  dim ADDR LEVEL     set a level (Insteon 0-255, X10 1-22)
  status ADDR        ask a device its level
  monitor            print one JSON object per frame received, until interrupted
modems built in: %s
flags:
`, strings.Join(names, ", "))
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plctool", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.String("port", "", "serial device (default: the first of "+strings.Join(serialport.DefaultPatterns, ", ")+")")
	family := fs.String("modem", "insteon", "modem family: insteon or x10")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of one command")
	verbose := fs.Bool("v", false, "log every frame and retry to stderr")
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
	cmd, cargs := rest[0], rest[1:]
	want := map[string]int{"info": 0, "on": 1, "off": 1, "status": 1, "dim": 2, "monitor": 0}
	n, known := want[cmd]
	if !known {
		fmt.Fprintf(stderr, "plctool: unknown command %q\n", cmd)
		usage(stderr, fs)
		return 2
	}
	if len(cargs) != n {
		fmt.Fprintf(stderr, "plctool: %s takes %d argument(s), got %d\n", cmd, n, len(cargs))
		return 2
	}
	var level plc.Level
	if cmd == "dim" {
		l, err := m.parseLevel(cargs[1])
		if err != nil {
			fmt.Fprintf(stderr, "plctool: dim: %v (%s takes %s)\n", err, *family, m.levels)
			return 2
		}
		level = l
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
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var onFrame func(map[string]any)
	var out sync.Mutex
	if cmd == "monitor" {
		enc := json.NewEncoder(stdout)
		onFrame = func(o map[string]any) {
			o["time"] = time.Now().UTC().Format(time.RFC3339Nano)
			out.Lock()
			enc.Encode(o)
			out.Unlock()
		}
	}
	c, err := m.open(p, log, onFrame)
	if err != nil {
		p.Close()
		fmt.Fprintf(stderr, "plctool: %v\n", err)
		return 1
	}
	defer c.Close()

	if cmd == "monitor" {
		fmt.Fprintf(stderr, "plctool: monitoring %s; Ctrl-C to stop\n", p.Path())
		<-sig.Done()
		return 0
	}
	ctx, cancel := context.WithTimeout(sig, *timeout)
	defer cancel()
	var a plc.Address
	if n > 0 {
		a = plc.Address(cargs[0])
	}
	switch cmd {
	case "info":
		var s string
		if s, err = c.Info(ctx); err == nil {
			fmt.Fprintln(stdout, s)
		}
	case "on":
		if err = c.On(ctx, a); err == nil {
			fmt.Fprintf(stdout, "%s on\n", a)
		}
	case "off":
		if err = c.Off(ctx, a); err == nil {
			fmt.Fprintf(stdout, "%s off\n", a)
		}
	case "dim":
		if err = c.Dim(ctx, a, level); err == nil {
			fmt.Fprintf(stdout, "%s level %d\n", a, level)
		}
	case "status":
		var l plc.Level
		if l, err = c.Status(ctx, a); err == nil {
			fmt.Fprintf(stdout, "%s level %d (%d%%)\n", a, l, (int(l)*100+127)/255)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "plctool: %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
