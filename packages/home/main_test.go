package home

import (
	"bytes"
	"errors"
	"testing"

	"oepc.dev/oepcos/packages/role"
	"oepc.dev/oepcos/plc"
)

func TestParseFlags(t *testing.T) {
	var buf bytes.Buffer
	cfg, _, err := ParseFlags("homed", []string{"--data=/perm/home/homed", "--modem=insteon:/dev/ttyUSB0", "--modem", "X10:/dev/ttyUSB1",
		"--modem-search=none", "--tz=Europe/Berlin", "--socket=/run/oepc/homed.sock"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Modems) != 2 || cfg.Modems[0].Protocol != plc.Insteon || cfg.Modems[1].Protocol != plc.X10 ||
		cfg.Modems[1].Path != "/dev/ttyUSB1" || cfg.Modems[0].Patterns == nil || len(cfg.Modems[0].Patterns) != 0 {
		t.Fatalf("modems %+v", cfg.Modems)
	}
	if cfg.TimeZone != "Europe/Berlin" || cfg.Socket != "/run/oepc/homed.sock" || cfg.StateDir != "/perm/home/homed" {
		t.Fatalf("cfg %+v", cfg)
	}
	for _, args := range [][]string{
		{"--modem=zigbee:/dev/ttyUSB0"},
		{"--modem=/dev/ttyUSB0"},
		{"--modem=insteon:"},
		{"--modem=insteon:/dev/a", "--modem=x10:/dev/a"},
		{"--tz=Mars/Olympus"},
		{"--data=relative"},
		{"--modem-search=everywhere"},
		{"extra"},
	} {
		_, _, err := ParseFlags("homed", args, &buf)
		if err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	// A config error exits 125: gokrazy does not restart it.
	if got := Main([]string{"--tz=Mars/Olympus"}, &buf); got != role.ExitConfig {
		t.Fatalf("exit status %d, want %d", got, role.ExitConfig)
	}
	var ce *role.ConfigError
	if err := (Config{StateDir: "/x", Modems: []ModemConfig{{Protocol: "zigbee", Path: "/dev/a"}}}).Validate(); !errors.As(err, &ce) {
		t.Fatalf("validate: %v", err)
	}
}
