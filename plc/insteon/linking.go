package insteon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"oepc.dev/oepcos/plc"
)

// maxDeviceLinks bounds a read of a device's database (a SwitchLinc holds
// a few hundred records; each read takes a power-line exchange).
const maxDeviceLinks = 512

// sendFor sends a direct message and waits for the device's ACK, then for
// one more message of the device that want accepts (a record it reads
// out). The ACK's NAK is plc.ErrNAK; no answer after Retries resends is
// plc.ErrNoAnswer.
func (m *Modem) sendFor(ctx context.Context, msg Message, want func(Message) bool) (Message, Message, error) {
	msg.Flags = Flags{Type: Direct, Extended: msg.Flags.Extended, HopsLeft: m.cfg.MaxHops, MaxHops: m.cfg.MaxHops}
	if msg.Flags.Extended {
		msg.SetChecksum()
	}
	to, cmd1 := msg.To, msg.Cmd1
	isAck := func(got *Message) bool {
		return (got.Flags.Type == DirectACK && got.Cmd1 == cmd1) || got.Flags.Type == DirectNAK
	}
	r := &request{
		frame: EncodeSend(msg), idempotent: true, timeout: m.cfg.ReplyTimeout,
		matchReply: func(f Frame, got *Message) bool {
			if got == nil || got.From != to {
				return false
			}
			return isAck(got) || (got.Flags.Type == Direct && want(*got))
		},
		replies: func(ctx context.Context, w *waiter, timeout time.Duration) ([]Frame, error) {
			var ack, rep []Frame
			for len(ack) == 0 || len(rep) == 0 {
				fs, err := m.oneReply(ctx, w, timeout)
				if err != nil {
					return nil, err
				}
				got, err := DecodeReceived(fs[0].Raw)
				if err != nil {
					continue
				}
				if isAck(&got) {
					if got.Flags.Type == DirectNAK {
						return fs, nil
					}
					ack = fs
				} else {
					rep = fs
				}
			}
			return append(ack, rep...), nil
		},
	}
	var err error
	for attempt := 0; attempt <= m.cfg.Retries; attempt++ {
		var res result
		res, err = m.do(ctx, r)
		if err == nil {
			ack, derr := DecodeReceived(res.replies[0].Raw)
			if derr != nil {
				return Message{}, Message{}, derr
			}
			if ack.Flags.Type == DirectNAK {
				return ack, Message{}, fmt.Errorf("%w: %s answered NAK to %s (%s)", plc.ErrNAK, to, InsteonCmdName(cmd1), nakReason(ack.Cmd2))
			}
			rep, derr := DecodeReceived(res.replies[1].Raw)
			return ack, rep, derr
		}
		if !errors.Is(err, errTimeout) {
			return Message{}, Message{}, err
		}
		m.log.Warn("insteon: device did not answer", "address", to, "cmd", InsteonCmdName(cmd1), "attempt", attempt+1)
	}
	return Message{}, Message{}, fmt.Errorf("%w: %s did not answer %s (out of range, unplugged, or not linked?)", plc.ErrNoAnswer, to, InsteonCmdName(cmd1))
}

// ReadDeviceLink reads the record at memory address at of a device's own
// ALL-Link database (0x2F, one record).
func (m *Modem) ReadDeviceLink(ctx context.Context, dev Address, at uint16) (LinkRecord, error) {
	_, rep, err := m.sendFor(ctx, ALDBReadMsg(dev, at, 1), func(got Message) bool {
		op, err := DecodeALDB(got)
		return err == nil && op.Action == ALDBRecord && op.At == at
	})
	if err != nil {
		return LinkRecord{}, fmt.Errorf("reading %s's link record at %04X: %w", dev, at, err)
	}
	op, err := DecodeALDB(rep)
	if err != nil {
		return LinkRecord{}, err
	}
	return op.Record, nil
}

// DeviceLinks reads a device's ALL-Link database one record at a time,
// from 0x0FFF down to its high-water mark (the first record never used,
// which is not returned). One record at a time, as insteon-terminal does:
// a read of all records at once loses records on a noisy line.
func (m *Modem) DeviceLinks(ctx context.Context, dev Address) ([]DeviceLink, error) {
	var out []DeviceLink
	at := ALDBFirst
	for len(out) < maxDeviceLinks {
		r, err := m.ReadDeviceLink(ctx, dev, at)
		if err != nil {
			return out, err
		}
		if r.End() {
			return out, nil
		}
		out = append(out, DeviceLink{At: at, LinkRecord: r})
		at -= ALDBRecordSize
	}
	return out, fmt.Errorf("insteon: %s's ALL-Link database has more than %d records; stopped reading", dev, maxDeviceLinks)
}

// WriteDeviceLink writes one record of a device's database (0x2F write)
// and reads it back.
func (m *Modem) WriteDeviceLink(ctx context.Context, dev Address, at uint16, r LinkRecord) error {
	if _, err := m.Send(ctx, ALDBWriteMsg(dev, at, r)); err != nil {
		return fmt.Errorf("writing %s's link record at %04X: %w", dev, at, err)
	}
	got, err := m.ReadDeviceLink(ctx, dev, at)
	if err != nil {
		return fmt.Errorf("%s's link record at %04X written but the read-back failed: %w", dev, at, err)
	}
	if got != r {
		return fmt.Errorf("insteon: %s's link record at %04X reads back as %v, not the %v written", dev, at, got, r)
	}
	m.log.Info("insteon: device link record written", "address", dev, "at", fmt.Sprintf("%04X", at), "record", r.String())
	return nil
}

// self is the modem's own address (0x60, asked once).
func (m *Modem) self(ctx context.Context) (Address, error) {
	m.mu.Lock()
	a, ok := m.selfAddr, m.selfKnown
	m.mu.Unlock()
	if ok {
		return a, nil
	}
	info, err := m.Info(ctx)
	if err != nil {
		return Address{}, err
	}
	m.mu.Lock()
	m.selfAddr, m.selfKnown = info.Address, true
	m.mu.Unlock()
	return info.Address, nil
}

// ResponderLink is a device linked as a responder of a modem group.
type ResponderLink struct {
	Device Address
	Group  byte
	// At is where the device keeps its record; Record is the record as
	// read back (data: on level, ramp rate, button).
	At     uint16
	Record LinkRecord
	// Linked: a new link was made; false: the link was there and at most
	// its level changed.
	Linked bool
}

// scanResponder reads a device's database from its first record until its
// responder record of the modem's group g (or the end).
func (m *Modem) scanResponder(ctx context.Context, dev, self Address, g byte) (DeviceLink, bool, error) {
	at := ALDBFirst
	for n := 0; n < maxDeviceLinks; n++ {
		r, err := m.ReadDeviceLink(ctx, dev, at)
		if err != nil {
			return DeviceLink{}, false, err
		}
		if r.End() {
			return DeviceLink{}, false, nil
		}
		if r.InUse() && !r.Controller() && r.Group == g && r.Address == self {
			return DeviceLink{At: at, LinkRecord: r}, true, nil
		}
		at -= ALDBRecordSize
	}
	return DeviceLink{}, false, fmt.Errorf("insteon: %s's ALL-Link database has more than %d records; stopped reading", dev, maxDeviceLinks)
}

func findController(recs []LinkRecord, dev Address, g byte) (LinkRecord, bool) {
	for _, r := range recs {
		if r.Controller() && r.Group == g && r.Address == dev {
			return r, true
		}
	}
	return LinkRecord{}, false
}

// LinkResponder makes dev a responder of the modem's group g at on level
// level and ramp rate ramp, as pyinsteon and insteon-terminal link a
// scene member:
//  1. the device's database is read; when it already has the responder
//     record and the modem its controller record, no link is made;
//  2. else the modem's database is backed up, the modem is put into
//     linking mode as controller of g (0x64 01 g), the device is told to
//     enter linking mode (extended 0x09), and the modem's ALL-Linking
//     Completed (0x53) is awaited for LinkTimeout; then the modem's
//     database is read back (the controller record added, nothing lost);
//  3. the device's responder record gets the level and ramp (0x2F write)
//     and is read back.
//
// Linking mode is cancelled (0x65) when the device does not join.
func (m *Modem) LinkResponder(ctx context.Context, dev Address, g byte, level, ramp byte) (ResponderLink, error) {
	m.linkMu.Lock()
	defer m.linkMu.Unlock()
	out := ResponderLink{Device: dev, Group: g}
	self, err := m.self(ctx)
	if err != nil {
		return out, fmt.Errorf("asking the modem its address: %w", err)
	}
	rl, haveDev, err := m.scanResponder(ctx, dev, self, g)
	if err != nil {
		return out, err
	}
	before, err := m.Links(ctx)
	if err != nil {
		return out, err
	}
	_, haveModem := findController(before, dev, g)
	if !haveDev || !haveModem {
		if err := m.saveBackup(before); err != nil {
			return out, err
		}
		if err := m.linkByRemoteSet(ctx, dev, g); err != nil {
			return out, err
		}
		out.Linked = true
		after, err := m.Links(ctx)
		if err != nil {
			return out, fmt.Errorf("insteon: %s linked to group %d but the modem's database read-back failed (backup of %d records kept): %w", dev, g, len(before), err)
		}
		if err := checkLinked(before, after, dev, g); err != nil {
			m.log.Error("insteon: ALL-Link database read-back after linking does not match", "err", err)
			return out, err
		}
		if rl, haveDev, err = m.scanResponder(ctx, dev, self, g); err != nil {
			return out, fmt.Errorf("%s linked to group %d, but reading its database back failed: %w", dev, g, err)
		}
		if !haveDev {
			return out, fmt.Errorf("insteon: %s joined group %d but holds no responder record of the modem", dev, g)
		}
	}
	out.At, out.Record = rl.At, rl.LinkRecord
	if rl.Data[0] != level || rl.Data[1] != ramp {
		rec := rl.LinkRecord
		rec.Data[0], rec.Data[1] = level, ramp
		if err := m.WriteDeviceLink(ctx, dev, rl.At, rec); err != nil {
			return out, err
		}
		out.Record = rec
	}
	m.log.Info("insteon: responder linked", "address", dev, "group", g, "level", level, "new_link", out.Linked)
	return out, nil
}

func (m *Modem) saveBackup(recs []LinkRecord) error {
	m.mu.Lock()
	m.backup = append([]LinkRecord(nil), recs...)
	m.mu.Unlock()
	if m.cfg.Backup != nil {
		if err := m.cfg.Backup(recs); err != nil {
			return fmt.Errorf("insteon: not changing the ALL-Link database: saving its backup failed: %w", err)
		}
	}
	return nil
}

// linkByRemoteSet: modem into linking mode as controller of g, the device
// told to enter linking mode, then the modem's 0x53 for that device.
func (m *Modem) linkByRemoteSet(ctx context.Context, dev Address, g byte) error {
	for drained := false; !drained; {
		select { // drop a stale report
		case <-m.linked:
		default:
			drained = true
		}
	}
	if _, err := m.do(ctx, &request{frame: EncodeStartLinking(LinkAsController, g), idempotent: true}); err != nil {
		return fmt.Errorf("putting the modem into linking mode for group %d: %w", g, err)
	}
	cancel := func() {
		cctx, cc := context.WithTimeout(context.Background(), 2*time.Second)
		defer cc()
		if err := m.CancelLinking(cctx); err != nil {
			m.log.Warn("insteon: cancelling all-linking failed", "err", err)
		}
	}
	if _, err := m.Send(ctx, EnterLinkingMsg(dev, g)); err != nil {
		cancel()
		return fmt.Errorf("telling %s to enter linking mode: %w", dev, err)
	}
	t := time.NewTimer(m.cfg.LinkTimeout)
	defer t.Stop()
	for {
		select {
		case l := <-m.linked:
			if l.Address != dev || l.Group != g {
				m.log.Warn("insteon: another device linked during the session", "address", l.Address, "group", l.Group)
				continue
			}
			return nil
		case <-t.C:
			cancel()
			return fmt.Errorf("%w: %s took its enter-linking command but did not join group %d within %s (the modem reported no ALL-Linking Completed)", plc.ErrNoAnswer, dev, g, m.cfg.LinkTimeout)
		case <-ctx.Done():
			cancel()
			return fmt.Errorf("%w: linking %s to group %d: %v", plc.ErrNoAnswer, dev, g, ctx.Err())
		case <-m.closing:
			return ErrClosed
		}
	}
}

// checkLinked: after must hold a controller record of g for dev and every
// record of before (but that one, which may have been updated).
func checkLinked(before, after []LinkRecord, dev Address, g byte) error {
	if _, ok := findController(after, dev, g); !ok {
		return fmt.Errorf("insteon: the modem reported the link of %s to group %d but holds no controller record for it", dev, g)
	}
	have := map[LinkRecord]int{}
	for _, r := range after {
		have[r]++
	}
	var lost []LinkRecord
	for _, r := range before {
		if r.Controller() && r.Group == g && r.Address == dev {
			continue
		}
		if have[r] == 0 {
			lost = append(lost, r)
			continue
		}
		have[r]--
	}
	if len(lost) > 0 {
		return fmt.Errorf("insteon: the modem's ALL-Link database lost %v while linking %s; restore it from the backup", lost, dev)
	}
	return nil
}

// UnlinkResponder undoes LinkResponder: the device's responder records of
// group g of the modem are marked unused (0x2F write, read back), then the
// modem's controller record is deleted (0x6F, backed up before and read
// back after). The device goes first: when it does not answer nothing
// changes, and the whole can be tried again.
func (m *Modem) UnlinkResponder(ctx context.Context, dev Address, g byte) error {
	m.linkMu.Lock()
	defer m.linkMu.Unlock()
	self, err := m.self(ctx)
	if err != nil {
		return fmt.Errorf("asking the modem its address: %w", err)
	}
	devLinks, err := m.DeviceLinks(ctx, dev)
	if err != nil {
		return err
	}
	for _, l := range devLinks {
		if l.InUse() && !l.Controller() && l.Group == g && l.Address == self {
			rec := l.LinkRecord
			rec.Flags &^= LinkInUse
			if err := m.WriteDeviceLink(ctx, dev, l.At, rec); err != nil {
				return err
			}
		}
	}
	recs, err := m.Links(ctx)
	if err != nil {
		return err
	}
	if rec, ok := findController(recs, dev, g); ok {
		if err := m.DeleteLink(ctx, rec); err != nil && !errors.Is(err, ErrNoRecord) {
			return err
		}
	}
	m.log.Info("insteon: responder unlinked", "address", dev, "group", g)
	return nil
}
