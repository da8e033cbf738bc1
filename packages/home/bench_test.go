package home_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/home"
	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/home/hometest"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
	"oepc.dev/oepcos/plc/serialport"
)

// limit is the physical least time of one direct Insteon command with max
// hops 3 (homed's driver default), as plc/insteon's benchmark derives it:
// the host's 8-byte 0x62 and the modem's 11-byte 0x50 at 19200 baud, the
// message over 3+1 timeslots and the ACK's one, 50 ms each at 60 Hz.
const limit = 19*insteonsim.ByteTime + 5*insteonsim.StandardSlot

func benchHomed(b *testing.B) (*homeapi.Client, *hometest.InsteonLine) {
	dir, err := shortDirB(b)
	if err != nil {
		b.Fatal(err)
	}
	line := hometest.NewInsteonLine(b, dir, insteonsim.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- home.Run(ctx, home.Config{StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "h.sock"),
			Modems: []home.ModemConfig{{Protocol: plc.Insteon, Path: line.Link, Patterns: []string{}}}})
	}()
	b.Cleanup(func() { cancel(); <-done })
	c := homeapi.NewUnix(filepath.Join(dir, "h.sock"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms, err := c.Modems(context.Background())
		if err == nil && len(ms) == 1 && ms[0].Present {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("homed not ready: %v %v", ms, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, a := range []insteon.Address{hometest.LampA, hometest.DimmerB, hometest.SwitchC, hometest.KeypadD} {
		if _, err := c.PutDevice(context.Background(), homeapi.Device{Name: []string{"a", "b", "c", "d"}[i], Kind: "lamp", Protocol: "insteon", Address: a.String()}); err != nil {
			b.Fatal(err)
		}
	}
	return c, line
}

// BenchmarkAPICommand: from the API call (HTTP on homed's unix socket) to
// the device's ACK and the answer, beside the bare driver on a second
// simulated line in the same run, alternating, and beside the physical
// limit. Real serial and power-line timing.
func BenchmarkAPICommand(b *testing.B) {
	c, _ := benchHomed(b)
	dir, _ := shortDirB(b)
	bare := hometest.NewInsteonLine(b, dir, insteonsim.Config{})
	port, err := serialport.Open(serialport.Config{Path: bare.Link, Baud: insteon.Baud, Patterns: []string{}})
	if err != nil {
		b.Fatal(err)
	}
	m := insteon.New(port, insteon.Config{})
	defer m.Close()
	ctx := context.Background()
	var tAPI, tDrv time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if i%2 == 0 {
			_, err = c.On(ctx, "a")
		} else {
			_, err = c.Off(ctx, "a")
		}
		if err != nil {
			b.Fatal(err)
		}
		tAPI += time.Since(t0)
		t0 = time.Now()
		if i%2 == 0 {
			err = m.On(ctx, plc.Address(hometest.LampA.String()))
		} else {
			err = m.Off(ctx, plc.Address(hometest.LampA.String()))
		}
		if err != nil {
			b.Fatal(err)
		}
		tDrv += time.Since(t0)
	}
	b.StopTimer()
	api, drv := tAPI/time.Duration(b.N), tDrv/time.Duration(b.N)
	b.ReportMetric(float64(api.Microseconds())/1000, "api-ms")
	b.ReportMetric(float64(drv.Microseconds())/1000, "driver-ms")
	b.ReportMetric(float64(limit.Microseconds())/1000, "limit-ms")
	b.ReportMetric(float64(api)/float64(drv), "api/driver")
	b.ReportMetric(float64(api)/float64(limit), "api/limit")
}

// BenchmarkAPIThroughput: commands per second through one modem, four
// callers on four devices at once, beside the line's limit (one command on
// the power line at a time).
func BenchmarkAPIThroughput(b *testing.B) {
	c, _ := benchHomed(b)
	ctx := context.Background()
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	per := (b.N + 3) / 4
	for w, name := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				var err error
				if (i+w)%2 == 0 {
					_, err = c.On(ctx, name)
				} else {
					_, err = c.Off(ctx, name)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	rate := float64(4*per) / time.Since(t0).Seconds()
	lim := 1 / limit.Seconds()
	b.ReportMetric(rate, "cmd/s")
	b.ReportMetric(lim, "limit-cmd/s")
	b.ReportMetric(lim/rate, "x-limit")
}
