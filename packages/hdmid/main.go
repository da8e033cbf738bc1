package hdmid

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/role"
)

// Main is hdmid's whole main function: flags from args (the gokrazy
// instance config), run until SIGINT/SIGTERM, and the exit status (125, do
// not restart, for a bad configuration).
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf role.Flags
	rf.Register(fs, Name)
	var cfg Config
	var api, tokenFile, pairingFile, webURL, size string
	var webPort int
	host, _ := os.Hostname()
	fs.StringVar(&cfg.Name, "name", host, "box name shown until oepcd tells its own")
	fs.StringVar(&cfg.Sysfs, "sysfs", DefaultSysfs, "directory of the DRM connectors")
	fs.StringVar(&cfg.Framebuffer, "fb", "/dev/fb0", "framebuffer device; empty: none")
	fs.StringVar(&cfg.Console, "console", "/dev/tty0", "console switched to graphics mode while drawing; empty: none")
	fs.StringVar(&cfg.PNG, "png", "", "also write the screen to this PNG file (atomically)")
	fs.StringVar(&size, "png-size", "1920x1080", "PNG size when no display mode is known")
	fs.StringVar(&api, "api", "http://127.0.0.1:7070", "oepcd's local API")
	fs.StringVar(&tokenFile, "token-file", "/perm/home/oepcd/api.token", "oepcd's API token")
	fs.StringVar(&pairingFile, "pairing-file", "/perm/home/oepcd/pairing.code", "the web UI's pairing code; empty: none")
	fs.StringVar(&webURL, "web-url", "", "web UI address for the QR code; empty: http://LAN-ADDRESS:WEB-PORT/")
	fs.IntVar(&webPort, "web-port", 80, "web UI port on the box's LAN address (oepcd serves it on 80 in the image)")
	fs.BoolVar(&cfg.Uevents, "uevents", true, "listen for the kernel's hotplug uevents")
	fs.DurationVar(&cfg.PollStatus, "poll", 5*time.Second, "how often to ask oepcd for the box's state")
	fs.DurationVar(&cfg.PollSysfs, "poll-sysfs", 0, "how often to read the connectors (0: 30s with uevents, 2s without)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return role.ExitConfig
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return role.ExitConfig
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	if _, err := fmt.Sscanf(size, "%dx%d", &cfg.PNGSize.X, &cfg.PNGSize.Y); err != nil {
		return fail(fmt.Errorf("--png-size %q: want WxH, e.g. 1920x1080", size))
	}
	if cfg.PNGSize.X <= 0 || cfg.PNGSize.Y <= 0 {
		return fail(fmt.Errorf("--png-size %q: want a positive WxH", size))
	}
	if !strings.HasPrefix(api, "http://") && !strings.HasPrefix(api, "https://") {
		return fail(fmt.Errorf("--api %q: want an http:// URL", api))
	}
	log, err := rf.Logger(stderr, Name)
	if err != nil {
		return fail(err)
	}
	cfg.StateDir, cfg.HealthDir, cfg.Logger = rf.Data, rf.HealthDir, log
	cfg.Source = &APISource{
		Client:      &localapi.Client{Base: api, HTTP: &http.Client{Timeout: 5 * time.Second}},
		TokenFile:   tokenFile,
		PairingFile: pairingFile,
		WebURL:      webURL,
		WebPort:     webPort,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return role.ExitStatus(log, Run(ctx, cfg))
}
