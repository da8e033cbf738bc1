package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
)

// The Insteon half: a PowerLinc Modem at 19200 baud.
func init() {
	modems["insteon"] = modem{
		baud:   insteon.Baud,
		levels: "0-255",
		parseLevel: func(s string) (plc.Level, error) {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 255 {
				return 0, fmt.Errorf("level %q is not 0-255", s)
			}
			return plc.Level(n), nil
		},
		open: func(port io.ReadWriteCloser, log *slog.Logger, onFrame func(map[string]any)) (conn, error) {
			cfg := insteon.Config{Logger: log}
			if onFrame != nil {
				cfg.OnFrame = func(f insteon.Frame) { onFrame(insteonFrameJSON(f)) }
			}
			return insteonConn{insteon.New(port, cfg)}, nil
		},
	}
}

type insteonConn struct{ *insteon.Modem }

func (c insteonConn) Info(ctx context.Context) (string, error) {
	i, err := c.Modem.Info(ctx)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("insteon modem %s category 0x%02X subcategory 0x%02X firmware 0x%02X", i.Address, i.Category, i.Subcat, i.Firmware)
	if cfg, err := c.GetConfig(ctx); err == nil {
		s += fmt.Sprintf(" config %s", cfg)
	}
	if links, err := c.Links(ctx); err == nil {
		s += fmt.Sprintf(" all-link-records %d", len(links))
	}
	return s, nil
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
