package insteon_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
	"oepc.dev/oepcos/plc/serialport"
)

// The physical limit of one direct command (On, to a device the modem
// hears directly): the host's 8-byte 0x62 at 19200 baud, the message on
// the power line with max hops H (H+1 timeslots of 50 ms), the device's
// ACK (1 timeslot: it needed no hop), and the modem's 11-byte 0x50. The
// modem's 9-byte echo goes out while the message is on the power line, so
// it is not on the critical path.
func limit(maxHops int) time.Duration {
	serial := time.Duration(8+11) * insteonsim.ByteTime
	line := time.Duration(maxHops+1+1) * insteonsim.StandardSlot
	return serial + line
}

func benchRig(b *testing.B, maxHops uint8) *rig {
	r := newRig(b, insteon.Config{MaxHops: maxHops, Logger: discard()}, lamp(),
		insteonsim.Device{Address: dimmerB, Kind: insteonsim.Dimmer},
		insteonsim.Device{Address: switchC, Kind: insteonsim.Switch},
		insteonsim.Device{Address: keypadD, Kind: insteonsim.Keypad})
	return r
}

// BenchmarkCommandLatency: from the API call to the device's ACK, through
// the driver, beside a bare host on a second simulated line in the same
// run, alternating (write the frame, read until the ACK: no driver at
// all), and beside the physical limit.
func BenchmarkCommandLatency(b *testing.B) {
	for _, hops := range []uint8{1, 3} {
		lim := limit(int(hops))
		b.Run(fmt.Sprintf("maxhops=%d", hops), func(b *testing.B) {
			r := benchRig(b, hops)
			bare := benchRig(b, hops)
			bare.modem.Close() // the bare host owns this line
			port, err := serialport.Open(serialport.Config{Path: bare.link, Baud: insteon.Baud, Patterns: []string{}, ReadTimeout: 50 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer port.Close()
			ctx := context.Background()
			buf := make([]byte, 64)
			var tDriver, tBare time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cmd := byte(insteon.CmdOn)
				if i%2 == 1 {
					cmd = insteon.CmdOff
				}
				t0 := time.Now()
				if cmd == insteon.CmdOn {
					err = r.modem.On(ctx, addr(lampA))
				} else {
					err = r.modem.Off(ctx, addr(lampA))
				}
				if err != nil {
					b.Fatal(err)
				}
				tDriver += time.Since(t0)

				t0 = time.Now()
				frame := insteon.EncodeSend(insteon.Message{To: lampA, Flags: insteon.Flags{HopsLeft: hops, MaxHops: hops}, Cmd1: cmd, Cmd2: 0xFF})
				if _, err := port.Write(frame); err != nil {
					b.Fatal(err)
				}
				var got []byte
				ack := insteon.EncodeReceived(insteon.Message{From: lampA})[:5]
				for !bytes.Contains(got, ack) || len(got)-bytes.Index(got, ack) < 11 {
					n, err := port.Read(buf)
					if err != nil {
						b.Fatal(err)
					}
					got = append(got, buf[:n]...)
				}
				tBare += time.Since(t0)
			}
			b.StopTimer()
			d := tDriver / time.Duration(b.N)
			bb := tBare / time.Duration(b.N)
			b.ReportMetric(float64(d.Microseconds())/1000, "driver-ms")
			b.ReportMetric(float64(bb.Microseconds())/1000, "bare-ms")
			b.ReportMetric(float64(lim.Microseconds())/1000, "limit-ms")
			b.ReportMetric(float64(d)/float64(lim), "driver/limit")
			b.ReportMetric(float64(d)/float64(bb), "driver/bare")
		})
	}
}

// BenchmarkThroughput: commands per second through one modem with four
// callers at once (the queue serialises them: one command on the line at
// a time, as the power line allows), beside the physical limit.
func BenchmarkThroughput(b *testing.B) {
	const hops = 3
	r := benchRig(b, hops)
	devs := []insteon.Address{lampA, dimmerB, switchC, keypadD}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := 0
	for _, d := range devs {
		wg.Add(1)
		go func(a plc.Address) {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= b.N || firstErr != nil {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				if err := r.modem.On(ctx, a); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}(addr(d))
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	el := time.Since(start)
	rate := float64(b.N) / el.Seconds()
	limRate := 1 / limit(hops).Seconds()
	b.ReportMetric(rate, "cmd/s")
	b.ReportMetric(limRate, "limit-cmd/s")
	b.ReportMetric(limRate/rate, "x-limit")
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
