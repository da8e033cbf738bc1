package home

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/role"
	"oepc.dev/oepcos/plc"
)

// DefaultSocket is where homed's API socket is on the box; oepcd proxies
// it (box --homed-socket).
const DefaultSocket = homeapi.DefaultSocket

// modemFlags collects repeated --modem PROTOCOL:PATH flags.
type modemFlags []ModemConfig

func (m *modemFlags) String() string {
	var s []string
	for _, c := range *m {
		s = append(s, string(c.Protocol)+":"+c.Path)
	}
	return strings.Join(s, ",")
}

func (m *modemFlags) Set(v string) error {
	p, path, ok := strings.Cut(v, ":")
	if !ok || path == "" {
		return fmt.Errorf("%q: write PROTOCOL:PATH, e.g. insteon:/dev/serial/by-id/usb-Insteon_PowerLinc-if00", v)
	}
	proto := plc.Protocol(strings.ToLower(p))
	if proto != plc.Insteon && proto != plc.X10 {
		return fmt.Errorf("%q: protocol %q: use insteon or x10", v, p)
	}
	*m = append(*m, ModemConfig{Protocol: proto, Path: path})
	return nil
}

// ParseFlags reads homed's flags (the gokrazy instance config's
// CommandLineFlags) into a Config.
func ParseFlags(name string, args []string, stderr io.Writer) (Config, *role.Flags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf role.Flags
	rf.Register(fs, name)
	var modems modemFlags
	fs.Var(&modems, "modem", "a power-line modem, PROTOCOL:PATH (insteon or x10; repeat for several)")
	socket := fs.String("socket", DefaultSocket, "the API's unix socket (oepcd proxies it)")
	tz := fs.String("tz", "UTC", "the owner's time zone until the settings name one (IANA name)")
	search := fs.String("modem-search", "default", "where to look for a modem that moved: default (/dev/serial/by-id, /dev/ttyUSB*, /dev/ttyACM*) or none (only its path)")
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	if fs.NArg() > 0 {
		return Config{}, nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch *search {
	case "default":
	case "none":
		for i := range modems {
			modems[i].Patterns = []string{}
		}
	default:
		return Config{}, nil, fmt.Errorf("--modem-search %q: use default or none", *search)
	}
	cfg := Config{StateDir: rf.Data, Socket: *socket, HealthDir: rf.HealthDir, Name: name, Modems: modems, TimeZone: *tz}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, err
	}
	return cfg, &rf, nil
}

// Main is homed's whole main: flags from args, run until SIGINT/SIGTERM,
// and the exit status (role.ExitConfig for a configuration no restart
// fixes).
func Main(args []string, stderr io.Writer) int {
	const name = "homed"
	cfg, rf, err := ParseFlags(name, args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return role.ExitConfig
	}
	log, err := rf.Logger(stderr, name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return role.ExitConfig
	}
	cfg.Logger = log
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return role.ExitStatus(log, Run(ctx, cfg))
}
