package main

// The Insteon half of plctool: a PowerLinc Modem at 19200 baud.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
)

const insteonUsage = `Insteon PowerLinc Modem (-modem insteon, 19200 8N1):
  info                 the modem's ID, category, firmware, configuration, ALL-Link records
  on ADDR              switch a device on (ADDR like 1A.2B.3C)
  off ADDR             switch a device off
  dim ADDR LEVEL       set a level 0-255 (0 is off)
  status ADDR          ask a device its level
  monitor              print one JSON object per frame received, until interrupted`

func init() {
	modems["insteon"] = modem{baud: insteon.Baud, usage: insteonUsage, run: runInsteon}
}

func runInsteon(ctx context.Context, port io.ReadWriteCloser, cmd string, args []string, stdout io.Writer, log *slog.Logger) error {
	need := func(n int) error {
		if len(args) != n {
			return usageError{fmt.Errorf("insteon %s takes %d argument(s), got %d\n%s", cmd, n, len(args), insteonUsage)}
		}
		return nil
	}
	cfg := insteon.Config{Logger: log}
	if cmd == "monitor" {
		var mu sync.Mutex
		enc := json.NewEncoder(stdout)
		cfg.OnFrame = func(f insteon.Frame) {
			o := insteonFrameJSON(f)
			o["time"] = time.Now().UTC().Format(time.RFC3339Nano)
			mu.Lock()
			enc.Encode(o)
			mu.Unlock()
		}
	}
	m := insteon.New(port, cfg)
	defer m.Close()
	var a plc.Address
	if len(args) > 0 {
		if _, err := insteon.ParseAddress(args[0]); err != nil {
			return usageError{err}
		}
		a = plc.Address(args[0])
	}
	switch cmd {
	case "info":
		if err := need(0); err != nil {
			return err
		}
		i, err := m.Info(ctx)
		if err != nil {
			return err
		}
		s := fmt.Sprintf("insteon modem %s category 0x%02X subcategory 0x%02X firmware 0x%02X", i.Address, i.Category, i.Subcat, i.Firmware)
		if cfg, err := m.GetConfig(ctx); err == nil {
			s += fmt.Sprintf(" config %s", cfg)
		}
		if links, err := m.Links(ctx); err == nil {
			s += fmt.Sprintf(" all-link-records %d", len(links))
		}
		fmt.Fprintln(stdout, s)
	case "on", "off":
		if err := need(1); err != nil {
			return err
		}
		var err error
		if cmd == "on" {
			err = m.On(ctx, a)
		} else {
			err = m.Off(ctx, a)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", a, cmd)
	case "dim":
		if err := need(2); err != nil {
			return err
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 || n > 255 {
			return usageError{fmt.Errorf("level %q is not 0-255", args[1])}
		}
		if err := m.Dim(ctx, a, plc.Level(n)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s level %d\n", a, n)
	case "status":
		if err := need(1); err != nil {
			return err
		}
		l, err := m.Status(ctx, a)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s level %d (%d%%)\n", a, l, (int(l)*100+127)/255)
	case "monitor":
		if err := need(0); err != nil {
			return err
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case e, ok := <-m.Events():
				if !ok {
					return nil
				}
				log.Info("plctool: event", "address", e.Address, "kind", e.Kind, "level", e.Level, "group", e.Group)
			}
		}
	default:
		return usageError{fmt.Errorf("unknown command %q\n%s", cmd, insteonUsage)}
	}
	return nil
}

// insteonFrameJSON is what monitor prints for one unit off the line.
func insteonFrameJSON(f insteon.Frame) map[string]any {
	o := map[string]any{"hex": f.Hex()}
	switch f.Kind {
	case insteon.KindBusy:
		o["cmd"] = "nak"
		return o
	case insteon.KindGarbage:
		o["cmd"] = "garbage"
		return o
	}
	o["cmd"] = insteon.CmdName(f.Cmd())
	if insteon.IsEcho(f.Cmd()) {
		o["ack"] = f.Acked()
	}
	switch f.Cmd() {
	case insteon.CmdStandardReceived, insteon.CmdExtendedReceived:
		m, err := insteon.DecodeReceived(f.Raw)
		if err != nil {
			o["error"] = err.Error()
			return o
		}
		o["from"], o["to"] = m.From.String(), m.To.String()
		o["type"] = m.Flags.Type.String()
		o["hops_left"], o["max_hops"] = m.Flags.HopsLeft, m.Flags.MaxHops
		o["cmd1"], o["cmd2"] = fmt.Sprintf("%02X", m.Cmd1), fmt.Sprintf("%02X", m.Cmd2)
		o["command"] = insteon.InsteonCmdName(m.Cmd1)
		if g := m.Group(); g != 0 {
			o["group"] = g
		}
		if m.Flags.Extended {
			o["checksum_ok"] = m.ChecksumOK()
		}
	case insteon.CmdLinkRecord:
		if r, err := insteon.DecodeLinkRecord(f.Raw); err == nil {
			o["record"] = r.String()
		}
	case insteon.CmdCleanupStatus:
		o["ok"] = f.Acked()
	}
	return o
}
