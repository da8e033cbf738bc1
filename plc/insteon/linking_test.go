package insteon_test

import (
	"errors"
	"testing"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/insteon/insteonsim"
)

// The driver links scene members itself, over a pseudo-terminal against
// the simulated modem: the modem into linking mode as controller, the
// device told to enter linking mode (extended 0x09), the modem's 0x53,
// then the device's record written with the on level (0x2F) and read
// back. Firing the group sets each member to that level.
func TestLinkResponder(t *testing.T) {
	var backups int
	r := newRig(t, insteon.Config{LinkTimeout: 5 * time.Second, Backup: func([]insteon.LinkRecord) error { backups++; return nil }},
		insteonsim.Device{Address: lampA, Kind: insteonsim.Lamp},
		insteonsim.Device{Address: dimmerB, Kind: insteonsim.Dimmer, Hops: 1},
		insteonsim.Device{Address: keypadD, Kind: insteonsim.Keypad})
	// A link the modem already has, which linking must keep.
	r.sim.LinkScene(1, map[insteon.Address]byte{keypadD: 255})
	ctx := ctxT(t, 90*time.Second)
	self := r.sim.Address()

	start := time.Now()
	l, err := r.modem.LinkResponder(ctx, dimmerB, 3, 128, insteon.DefaultRamp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("linked %s to group 3 in %v", dimmerB, time.Since(start))
	if !l.Linked || l.At != insteon.ALDBFirst || l.Record.Data != [3]byte{128, insteon.DefaultRamp, 0x01} {
		t.Fatalf("link %+v", l)
	}
	// The timing is the power line's (the dimmer is one hop away): three
	// record reads (before, after the link, after the write: each 4
	// extended slots out, its ACK in 2 standard slots, the record back in 2
	// extended slots), 0x09 (4 extended slots, ACK 2), the SET broadcast (4
	// standard slots) and the write (4 extended, ACK 2): 26 extended and 14
	// standard slots, 3.52 s.
	least := 26*insteonsim.ExtendedSlot + 14*insteonsim.StandardSlot
	if d := time.Since(start); d < least {
		t.Fatalf("linking took %v: faster than the power line (%v)", d, least)
	}
	t.Logf("linking took %v, %.2f× the power line's %v", time.Since(start), float64(time.Since(start))/float64(least), least)
	dl := r.sim.DeviceLinks(dimmerB)
	if len(dl) != 1 || !dl[0].InUse() || dl[0].Controller() || dl[0].Group != 3 || dl[0].Address != self || dl[0].Data[0] != 128 {
		t.Fatalf("dimmer's database %v", dl)
	}
	links := r.sim.Links()
	if len(links) != 2 || !links[1].Controller() || links[1].Group != 3 || links[1].Address != dimmerB {
		t.Fatalf("modem's database %v", links)
	}
	if backups != 1 || r.sim.Resets() != 0 || r.sim.Count(insteon.CmdStartLinking) != 1 {
		t.Fatalf("backups %d, resets %d, 0x64 %d", backups, r.sim.Resets(), r.sim.Count(insteon.CmdStartLinking))
	}
	if _, err := r.modem.LinkResponder(ctx, lampA, 3, 255, insteon.DefaultRamp); err != nil {
		t.Fatal(err)
	}
	if _, err := r.modem.Scene(ctx, 3, true); err != nil {
		t.Fatal(err)
	}
	if a, b, k := level(t, r, lampA), level(t, r, dimmerB), level(t, r, keypadD); a != 255 || b != 128 || k != 0 {
		t.Fatalf("group 3 fired: lamp %d, dimmer %d, keypad %d", a, b, k)
	}

	// Linked already: only the level changes (one 0x2F write, no 0x64).
	writes := r.sim.DeviceLinkWrites()
	l, err = r.modem.LinkResponder(ctx, dimmerB, 3, 40, insteon.DefaultRamp)
	if err != nil || l.Linked || l.Record.Data[0] != 40 {
		t.Fatalf("relink at 40: %+v %v", l, err)
	}
	if r.sim.DeviceLinkWrites() != writes+1 || r.sim.Count(insteon.CmdStartLinking) != 2 {
		t.Fatalf("relevel: %d writes, %d 0x64", r.sim.DeviceLinkWrites()-writes, r.sim.Count(insteon.CmdStartLinking))
	}
	if _, err := r.modem.Scene(ctx, 3, true); err != nil || level(t, r, dimmerB) != 40 {
		t.Fatalf("after relevel: %v, dimmer %d", err, level(t, r, dimmerB))
	}

	// Unlinking: the device's record marked unused, the modem's deleted,
	// the other records kept.
	if err := r.modem.UnlinkResponder(ctx, dimmerB, 3); err != nil {
		t.Fatal(err)
	}
	dl = r.sim.DeviceLinks(dimmerB)
	if len(dl) != 1 || dl[0].InUse() || dl[0].Group != 3 {
		t.Fatalf("dimmer's database after unlink %v", dl)
	}
	links = r.sim.Links()
	if len(links) != 2 || links[0].Address != keypadD || links[1].Address != lampA {
		t.Fatalf("modem's database after unlink %v", links)
	}
	if _, err := r.modem.Scene(ctx, 3, false); err != nil || level(t, r, dimmerB) != 40 || level(t, r, lampA) != 0 {
		t.Fatalf("after unlink the dimmer must not follow: %v, dimmer %d, lamp %d", err, level(t, r, dimmerB), level(t, r, lampA))
	}
	// Linking again reuses the unused record.
	if l, err := r.modem.LinkResponder(ctx, dimmerB, 4, 200, insteon.DefaultRamp); err != nil || l.At != insteon.ALDBFirst || !l.Linked {
		t.Fatalf("link into the unused slot: %+v %v", l, err)
	}

	// A device that does not answer: no change, the error says who.
	r.sim.SetMissing(lampA, true)
	n := len(r.sim.Links())
	if _, err := r.modem.LinkResponder(ctx, lampA, 5, 255, insteon.DefaultRamp); !errors.Is(err, plc.ErrNoAnswer) {
		t.Fatalf("missing device: %v", err)
	}
	if len(r.sim.Links()) != n || r.sim.Count(insteon.CmdStartLinking) != 3 {
		t.Fatal("a missing device changed the modem's database or started linking")
	}
}

// A device that takes 0x09 but never joins (here: the modem left linking
// mode because a SET press of another device used it): LinkTimeout, then
// linking mode is cancelled.
func TestLinkResponderTimeout(t *testing.T) {
	r := newRig(t, insteon.Config{LinkTimeout: 1500 * time.Millisecond},
		insteonsim.Device{Address: lampA, Kind: insteonsim.Lamp})
	r.sim.NotJoining(lampA, true)
	ctx := ctxT(t, 30*time.Second)
	_, err := r.modem.LinkResponder(ctx, lampA, 3, 255, insteon.DefaultRamp)
	if !errors.Is(err, plc.ErrNoAnswer) {
		t.Fatalf("link without join: %v", err)
	}
	if r.sim.Count(insteon.CmdCancelLinking) != 1 || len(r.sim.Links()) != 0 {
		t.Fatalf("after the timeout: %d cancels, modem links %v", r.sim.Count(insteon.CmdCancelLinking), r.sim.Links())
	}
}
