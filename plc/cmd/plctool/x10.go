package main

// The X10 half of plctool: a CM11A at 4800 baud.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/x10"
)

// x10Usage lists the X10 commands, for plctool's usage text.
const x10Usage = `X10 CM11A (-modem x10, 4800 8N1):
  info             the interface's own status: firmware, clock, monitored house
  on ADDR          switch a unit on (ADDR like A1: house A-P, unit 1-16)
  off ADDR         switch a unit off
  dim ADDR STEP    set a lamp to STEP of 22 (1-22; from an unknown level the
                   lamp goes to full first, then dims down)
  status ADDR      ask a unit (only two-way modules such as the LM14A answer)
  monitor          print one JSON object per frame received, until interrupted`

func init() {
	modems["x10"] = modem{baud: x10.BaudRate, usage: x10Usage, run: runX10}
}

// monitorLine is what monitor prints for each frame received.
type monitorLine struct {
	Time string `json:"time"`
	Hex  string `json:"hex"`
	Cmd  string `json:"cmd"`
}

// runX10 runs one plctool command against a CM11A on port (opened by main
// at 4800 baud; ctx carries main's -timeout, except for monitor). It
// closes port.
func runX10(ctx context.Context, port io.ReadWriteCloser, cmd string, args []string, stdout io.Writer, log *slog.Logger) error {
	cfg := x10.Config{Logger: log}
	frames := make(chan monitorLine, 256)
	if cmd == "monitor" {
		cfg.OnFrame = func(f x10.Frame) {
			if f.Dir != "rx" {
				return
			}
			select {
			case frames <- monitorLine{Time: f.Time.UTC().Format(time.RFC3339Nano), Hex: f.Hex(), Cmd: f.Cmd}:
			default:
				log.Warn("plctool: monitor output behind; frame dropped", "hex", f.Hex())
			}
		}
	}
	m := x10.New(port, cfg)
	defer m.Close()

	need := func(n int) error {
		if len(args) != n {
			return usageError{fmt.Errorf("x10 %s takes %d argument(s), got %d\n%s", cmd, n, len(args), x10Usage)}
		}
		return nil
	}
	cctx := ctx
	addrArg := func() (x10.Addr, error) {
		a, err := x10.ParseAddr(args[0])
		if err != nil {
			return a, usageError{err}
		}
		return a, nil
	}
	switch cmd {
	case "info":
		if err := need(0); err != nil {
			return err
		}
		in, err := m.Info(cctx)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, formatInfo(in))
		return nil
	case "on", "off":
		if err := need(1); err != nil {
			return err
		}
		a, err := addrArg()
		if err != nil {
			return err
		}
		if cmd == "on" {
			err = m.On(cctx, plc.Address(a.String()))
		} else {
			err = m.Off(cctx, plc.Address(a.String()))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", a, cmd)
		return nil
	case "dim":
		if err := need(2); err != nil {
			return err
		}
		a, err := addrArg()
		if err != nil {
			return err
		}
		step, err := strconv.Atoi(args[1])
		if err != nil || step < 1 || step > x10.MaxDims {
			return usageError{fmt.Errorf("x10 dim: level %q is not 1-%d (X10 has 22 dim steps; use off for 0)", args[1], x10.MaxDims)}
		}
		if err := m.Dim(cctx, plc.Address(a.String()), x10.LevelOf(step)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s dimmed to %d/%d\n", a, step, x10.MaxDims)
		return nil
	case "status":
		if err := need(1); err != nil {
			return err
		}
		a, err := addrArg()
		if err != nil {
			return err
		}
		l, err := m.Status(cctx, plc.Address(a.String()))
		switch {
		case err == nil && l == 0:
			fmt.Fprintf(stdout, "%s off\n", a)
		case err == nil:
			fmt.Fprintf(stdout, "%s on (level %d/255)\n", a, l)
		case errors.Is(err, plc.ErrNoAnswer):
			return fmt.Errorf("%s did not answer the status request: most X10 modules are one-way and never answer; two-way ones (LM14A, AM14A) do: %w", a, err)
		default:
			return err
		}
		return nil
	case "monitor":
		if err := need(0); err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		for {
			select {
			case <-ctx.Done():
				return nil
			case l := <-frames:
				if err := enc.Encode(l); err != nil {
					return err
				}
			case ev, ok := <-m.Events():
				if !ok {
					return nil
				}
				log.Info("plctool: event", "address", ev.Address, "level", ev.Level, "command", ev.Command)
			}
		}
	}
	return usageError{fmt.Errorf("x10: unknown command %q\n%s", cmd, x10Usage)}
}

func formatInfo(in x10.Info) string {
	var b strings.Builder
	fmt.Fprintf(&b, "interface: X10 CM11A, firmware revision %d\n", in.Firmware)
	fmt.Fprintf(&b, "clock: %02d:%02d:%02d, %s, day %d of the year\n", in.Clock.Hour, in.Clock.Minute, in.Clock.Second, in.Clock.Weekday, in.Clock.YearDay+1)
	if in.BatteryTimer == 0xFFFF {
		fmt.Fprintf(&b, "battery timer: ffff (cold start: the clock was never set)\n")
	} else {
		fmt.Fprintf(&b, "battery timer: %d minutes on battery\n", in.BatteryTimer)
	}
	units := func(mask uint16) string {
		var s []string
		for u := 1; u <= 16; u++ {
			if mask&(1<<uint(u-1)) != 0 {
				s = append(s, x10.Addr{House: in.House, Unit: u}.String())
			}
		}
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, " ")
	}
	fmt.Fprintf(&b, "monitored house: %c\n", in.House)
	fmt.Fprintf(&b, "  on: %s\n  dimmed: %s\n  addressed: %s\n", units(in.OnOff), units(in.DimmedUnits), units(in.Addressed))
	return b.String()
}
