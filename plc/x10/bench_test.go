package x10_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/plctest"
	"oepc.dev/oepcos/plc/x10"
	"oepc.dev/oepcos/plc/x10/x10sim"
)

// physicalLimit is the least time one on/off command (address frame +
// function frame) can take at 60 Hz: per frame, 5 bytes on the serial line
// at 4800 8N1 (header:code, checksum, 0x00, 0x55: 2.083 ms each) and 25
// power-line cycles (the frame twice, 11 cycles each, then the 3-cycle
// gap). 2 × (10.4 ms + 416.7 ms) = 854.2 ms.
func physicalLimit() time.Duration {
	on, _ := x10.FunctionFrame('A', x10.On, 0)
	serial := time.Duration(2*x10.ExchangeBytes) * x10.ByteTime
	line := time.Duration(x10.LineCycles(x10.AddressFrame(a1))+x10.LineCycles(on)) * x10.CycleTime(60)
	return serial + line
}

func report(b *testing.B, per time.Duration) {
	limit := physicalLimit()
	b.ReportMetric(float64(per)/float64(time.Millisecond), "ms/cmd")
	b.ReportMetric(float64(time.Second)/float64(per), "cmds/s")
	b.ReportMetric(float64(limit)/float64(time.Millisecond), "limit-ms/cmd")
	b.ReportMetric(float64(per)/float64(limit), "x-limit")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCommand measures on/off commands through the driver against the
// simulator in real time (Speed 1: 4800 baud pacing and 60 Hz line time),
// beside the physical limit and beside a raw exchange: the same two
// frames written by hand on the same kind of line, with no driver, so the
// driver's own overhead shows as the gap between the two.
func BenchmarkCommand(b *testing.B) {
	b.Run("driver/latency", func(b *testing.B) {
		r := start(b, x10sim.Config{Speed: 1}, x10.Config{}, nil)
		ctx := context.Background()
		b.ResetTimer()
		t0 := time.Now()
		for i := 0; i < b.N; i++ {
			var err error
			if i%2 == 0 {
				err = r.m.On(ctx, addr(a1))
			} else {
				err = r.m.Off(ctx, addr(a1))
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, time.Since(t0)/time.Duration(b.N))
	})
	b.Run("driver/throughput", func(b *testing.B) {
		// Four callers keep the queue full; the line is the bottleneck.
		r := start(b, x10sim.Config{Speed: 1}, x10.Config{}, nil)
		ctx := context.Background()
		work := make(chan plc.Address, b.N)
		for i := 0; i < b.N; i++ {
			work <- []plc.Address{"A1", "A4", "A5", "A6"}[i%4]
		}
		close(work)
		b.ResetTimer()
		t0 := time.Now()
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for a := range work {
					if err := r.m.On(ctx, a); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		report(b, time.Since(t0)/time.Duration(b.N))
	})
	b.Run("raw", func(b *testing.B) {
		ptmx, path := plctest.PTY(b)
		sim := x10sim.New(ptmx, x10sim.Config{Speed: 1, Devices: devices()})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go sim.Run(ctx)
		port := openPort(b, path)
		defer port.Close()
		on, _ := x10.FunctionFrame('A', x10.On, 0)
		frames := [][]byte{x10.AddressFrame(a1), on}
		one := make([]byte, 1)
		b.ResetTimer()
		t0 := time.Now()
		for i := 0; i < b.N; i++ {
			for _, f := range frames {
				port.Write(f)
				if _, err := io.ReadFull(port, one); err != nil || one[0] != x10.Checksum(f) {
					b.Fatalf("checksum % x %v", one, err)
				}
				port.Write([]byte{x10.Confirm})
				if _, err := io.ReadFull(port, one); err != nil || one[0] != x10.Ready {
					b.Fatalf("ready % x %v", one, err)
				}
			}
		}
		report(b, time.Since(t0)/time.Duration(b.N))
	})
}
