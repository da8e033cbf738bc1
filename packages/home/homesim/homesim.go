// Package homesim runs homed against a simulated Insteon modem on a real
// pseudo-terminal, with a lamp, a dimmer, a wall switch and a keypad on its
// power line, so the devnet (make run) has lights to switch. The devices
// are added to homed's list on the first start. A control socket in the
// state directory (ControlSocket) presses switches by hand, unplugs
// devices and reports their real levels, for the browser tests.
package homesim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"oepc.dev/oepcos/packages/home"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
)

// Config is where homed keeps its state and serves its API.
type Config struct {
	StateDir string
	Socket   string
	Logger   *slog.Logger
}

// Devices are the simulated devices and how homed lists them.
var Devices = []struct {
	Sim insteonsim.Device
	Dev homeapi.Device
}{
	{insteonsim.Device{Address: insteon.Address{0x1A, 0x2B, 0x3C}, Kind: insteonsim.Lamp},
		homeapi.Device{Name: "Floor lamp", Room: "Living room", Kind: homeapi.KindLamp}},
	{insteonsim.Device{Address: insteon.Address{0x2B, 0x3C, 0x4D}, Kind: insteonsim.Dimmer},
		homeapi.Device{Name: "Ceiling", Room: "Living room", Kind: homeapi.KindDimmer}},
	{insteonsim.Device{Address: insteon.Address{0x3C, 0x4D, 0x5E}, Kind: insteonsim.Switch, Hops: 1},
		homeapi.Device{Name: "Porch", Room: "Outside", Kind: homeapi.KindSwitch}},
	{insteonsim.Device{Address: insteon.Address{0x4D, 0x5E, 0x6F}, Kind: insteonsim.Keypad, Hops: 1},
		homeapi.Device{Name: "Hall keypad", Room: "Hall", Kind: homeapi.KindKeypad}},
}

// Run serves the simulated modem and homed until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		return fmt.Errorf("homesim: pseudo-terminal: %w", err)
	}
	defer tty.Close()
	if err := raw(tty); err != nil {
		ptmx.Close()
		return fmt.Errorf("homesim: raw mode: %w", err)
	}
	// Serve a non-blocking duplicate (Close then ends a Read in progress).
	fd, err := unix.Dup(int(ptmx.Fd()))
	ptmx.Close()
	if err != nil {
		return err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	line := os.NewFile(uintptr(fd), "ptmx")
	defer line.Close()
	sim := insteonsim.New(insteonsim.Config{Logger: log.With("side", "insteonsim")})
	for _, d := range Devices {
		sim.Add(d.Sim)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Serve(ctx, line) }()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	go func() {
		if err := serveControl(ctx, filepath.Join(cfg.StateDir, ControlSocket), sim); err != nil {
			log.Warn("homesim: no control socket", "err", err)
		}
	}()

	go func() {
		c := homeapi.NewUnix(cfg.Socket)
		for i := 0; i < 100 && ctx.Err() == nil; i++ {
			if _, err := c.Modems(ctx); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, d := range Devices {
			if _, err := c.Device(ctx, d.Dev.Name); homeapi.IsNotFound(err) {
				dev := d.Dev
				dev.Protocol, dev.Address = string(plc.Insteon), d.Sim.Address.String()
				if _, err := c.PutDevice(ctx, dev); err != nil {
					log.Warn("homesim: adding a device", "device", dev.Name, "err", err)
				}
			}
		}
	}()
	err = home.Run(ctx, home.Config{StateDir: cfg.StateDir, Socket: cfg.Socket, Logger: log,
		Modems: []home.ModemConfig{{Protocol: plc.Insteon, Path: tty.Name(), Patterns: []string{}}}})
	cancel()
	if serr := <-simDone; serr != nil && !errors.Is(serr, context.Canceled) && err == nil {
		log.Debug("homesim: simulated modem stopped", "err", serr)
	}
	return err
}

// Main is the devnet's homed child: flags --data DIR --socket PATH.
func Main(args []string) int {
	var dir, socket string
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--data":
			dir = args[i+1]
		case "--socket":
			socket = args[i+1]
		}
	}
	if dir == "" || socket == "" {
		fmt.Fprintln(os.Stderr, "homesim: need --data DIR --socket PATH")
		return 125
	}
	dir, _ = filepath.Abs(dir)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("program", "homed-sim")
	ctx, stop := signalContext()
	defer stop()
	if err := Run(ctx, Config{StateDir: dir, Socket: socket, Logger: log}); err != nil {
		log.Error("exiting", "err", err)
		return 1
	}
	return 0
}

func raw(f *os.File) error {
	fd := int(f.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN] = 1
	tio.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
}
