// Package insteonsim is a simulated PowerLinc Modem with simulated devices
// behind it (lamps, dimmers, switches, a keypad) on any io.ReadWriter,
// usually the controlling end of a pseudo-terminal. It keeps real timing:
// the serial line's 19200 baud and the power line's time per message and
// hop. Tests use it, and the devnet, so `make run` has lights to switch.
//
// Power-line timing. An Insteon standard message (10 bytes) goes out as 5
// packets of 24 bits, one per zero crossing of the mains, plus a gap: 6
// zero crossings, 50 ms at 60 Hz (120 zero crossings/s; 60 ms at 50 Hz);
// an extended message takes 13 zero crossings, 108.3 ms. Source: INSTEON,
// "INSTEON: The Details" (2005/2013), INSTEON Specifications and Message
// Repeating: messages are repeated by simulcast in timeslots, so a message
// sent with max hops H takes H+1 timeslots, and the addressee's ACK goes
// out with max hops = the hops the message used. For ALL-Link groups the
// INSTEON Modem/Hub Developer's Guides (2242-222, 2245-222): the modem
// sends the group broadcast with max hops 3, then the cleanups with max
// hops 1, the first 7 zero crossings after the broadcast, the next ones 2
// zero crossings apart.
package insteonsim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"oepc.dev/oepcos/plc/insteon"
)

// Power-line and serial timing (see the package comment).
const (
	ZeroCrossing60Hz = time.Second / 120
	// StandardSlot is one timeslot of a standard message at 60 Hz: 6 zero
	// crossings, 50 ms.
	StandardSlot = 6 * ZeroCrossing60Hz
	// ExtendedSlot: 13 zero crossings, 108.3 ms.
	ExtendedSlot = 13 * ZeroCrossing60Hz
	// ByteTime is one byte at 19200 baud, 8N1 (10 bits): 520.8 µs.
	ByteTime = 10 * time.Second / 19200
)

// Kind is a kind of simulated device.
type Kind int

const (
	// Lamp: a plug-in dimmer module (LampLinc): on, off, dim, status.
	Lamp Kind = iota
	// Dimmer: a wall dimmer (SwitchLinc dimmer), also pressed by hand.
	Dimmer
	// Switch: a wall relay switch (SwitchLinc relay): on or off, pressed by hand.
	Switch
	// Keypad: a KeypadLinc: button 1 drives its load, buttons 2-8 only
	// send their group.
	Keypad
)

func (k Kind) category() (cat, sub byte) {
	switch k {
	case Lamp:
		return 0x01, 0x0E // dimmable lighting: LampLinc
	case Dimmer:
		return 0x01, 0x20 // SwitchLinc dimmer
	case Switch:
		return 0x02, 0x2A // switched lighting: SwitchLinc relay
	default:
		return 0x01, 0x41 // KeypadLinc dimmer
	}
}

// Device is a simulated device's set-up.
type Device struct {
	Address insteon.Address
	Kind    Kind
	// Hops is how many repeats a message needs between this device and the
	// modem (0: it hears the modem directly). The modem hears each message
	// of this device once per remaining hop: duplicates with decreasing
	// hops left.
	Hops int
}

type device struct {
	Device
	level   byte
	delta   byte // ALDB delta, bumped on every database change
	missing bool // unplugged: answers nothing
	noJoin  bool // takes 0x09 but never joins a linking session
	// links is the device's own ALL-Link database: record i lives at
	// memory address 0x0FFF - 8i (read and written with 0x2F). A responder
	// record of a modem group holds the level the device goes to when the
	// group fires (data 1), its ramp rate and its button.
	links []insteon.LinkRecord
}

// responderLevel is the on level of d's responder record for group g of
// controller c, if it has one in use.
func (d *device) responderLevel(c insteon.Address, g byte) (byte, bool) {
	for _, r := range d.links {
		if r.InUse() && !r.Controller() && r.Group == g && r.Address == c {
			return r.Data[0], true
		}
	}
	return 0, false
}

// addLink puts rec into d's database: over the record of the same link
// (role, group, device), else into the first unused slot, else at the end.
func (d *device) addLink(rec insteon.LinkRecord) {
	d.delta++
	for i, r := range d.links {
		if r.InUse() && r.Same(rec) {
			d.links[i] = rec
			return
		}
	}
	for i, r := range d.links {
		if !r.InUse() {
			d.links[i] = rec
			return
		}
	}
	d.links = append(d.links, rec)
}

// linkAt is the record at memory address at: its index, or -1 when at is
// not a record's address; past the end it is the zero record, the
// high-water mark.
func (d *device) linkAt(at uint16) (int, insteon.LinkRecord) {
	off := int(insteon.ALDBFirst) - int(at)
	if off < 0 || off%insteon.ALDBRecordSize != 0 {
		return -1, insteon.LinkRecord{}
	}
	i := off / insteon.ALDBRecordSize
	if i < len(d.links) {
		return i, d.links[i]
	}
	return i, insteon.LinkRecord{}
}

// Config sets up the simulated modem.
type Config struct {
	// Address is the modem's own Insteon ID. Default 44.85.11.
	Address insteon.Address
	Logger  *slog.Logger
	// Slot is the power line's time per standard timeslot. Default
	// StandardSlot (60 Hz); 60 ms for 50 Hz.
	Slot time.Duration
	// ByteTime is the serial time per byte. Default ByteTime (19200 baud).
	ByteTime time.Duration
}

// Sim is a simulated modem and its devices. Its state (devices, levels,
// the modem's ALL-Link database) outlives a line: Serve it again on a new
// line after an unplug.
type Sim struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	devs       map[insteon.Address]*device
	aldb       []insteon.LinkRecord
	cursor     int
	config     insteon.IMConfig
	lineBusy   time.Time // the power line carries a message until then
	linking    *linkMode
	faults     faults
	hostFrames int
	resets     int // 0x67 received (a driver must never send it)
	aldbWrites int // 0x6F changes
	// aldbDevWrites: 0x2F writes into the devices' databases.
	aldbDevWrites int
	cmdCount      map[byte]int
	out           chan []byte // the current line's output queue
	lineCtx       context.Context
	interrupted   bool // the next scene's cleanup reports NAK
}

type linkMode struct {
	code  insteon.LinkCode
	group byte
	since time.Time
}

// LinkingWindow is how long the modem stays in linking mode (0x64) when
// no device joins: 4 minutes, as the 2413's.
const LinkingWindow = 4 * time.Minute

type faults struct {
	busy    int // lone NAK instead of an echo
	nakEcho int // echo ending in NAK
	silent  int // no answer at all
	drop    int // bytes to drop from the next output frame (an overrun)
	dropAck int // bytes to drop from the next device ACK
	split   bool
	merge   bool
}

// New returns a simulated modem with no devices.
func New(cfg Config) *Sim {
	if cfg.Address == (insteon.Address{}) {
		cfg.Address = insteon.Address{0x44, 0x85, 0x11}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Slot <= 0 {
		cfg.Slot = StandardSlot
	}
	if cfg.ByteTime <= 0 {
		cfg.ByteTime = ByteTime
	}
	return &Sim{cfg: cfg, log: cfg.Logger, devs: map[insteon.Address]*device{}, cmdCount: map[byte]int{}}
}

// Address is the modem's ID.
func (s *Sim) Address() insteon.Address { return s.cfg.Address }

// Add puts a device on the power line, off.
func (s *Sim) Add(d Device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devs[d.Address] = &device{Device: d}
}

// Level is a device's current level.
func (s *Sim) Level(a insteon.Address) (byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devs[a]
	if !ok {
		return 0, false
	}
	return d.level, true
}

// SetMissing unplugs a device (it answers nothing) or plugs it back.
func (s *Sim) SetMissing(a insteon.Address, missing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.devs[a]; ok {
		d.missing = missing
	}
}

// NotJoining makes a device ACK Enter Linking Mode (0x09) but never join
// the modem's linking session (an old device that ignores it, or one whose
// SET button is locked).
func (s *Sim) NotJoining(a insteon.Address, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.devs[a]; ok {
		d.noJoin = on
	}
}

// LinkScene makes group g of the modem a scene: for each member the modem
// gets a controller record and the member a responder record with its on
// level, as linking them by hand would leave them.
func (s *Sim) LinkScene(g byte, members map[insteon.Address]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, on := range members {
		d := s.devs[a]
		if d == nil {
			continue
		}
		d.addLink(insteon.LinkRecord{Flags: insteon.LinkInUse | 0x22, Group: g, Address: s.cfg.Address, Data: [3]byte{on, insteon.DefaultRamp, 0x01}})
		cat, sub := d.Kind.category()
		s.aldb = append(s.aldb, insteon.LinkRecord{Flags: insteon.LinkInUse | insteon.LinkController | 0x22, Group: g, Address: a, Data: [3]byte{cat, sub, 0x41}})
	}
}

// Links is the modem's ALL-Link database.
func (s *Sim) Links() []insteon.LinkRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]insteon.LinkRecord(nil), s.aldb...)
}

// Counters: host frames received, 0x67 resets received, ALDB writes, and
// how many frames of a given command came.
func (s *Sim) HostFrames() int  { s.mu.Lock(); defer s.mu.Unlock(); return s.hostFrames }
func (s *Sim) Resets() int      { s.mu.Lock(); defer s.mu.Unlock(); return s.resets }
func (s *Sim) ALDBWrites() int  { s.mu.Lock(); defer s.mu.Unlock(); return s.aldbWrites }
func (s *Sim) Count(c byte) int { s.mu.Lock(); defer s.mu.Unlock(); return s.cmdCount[c] }

// Faults. Each applies to the next n host commands (or output frames).

// BusyNext answers the next n commands with a lone NAK (buffer full).
func (s *Sim) BusyNext(n int) { s.mu.Lock(); s.faults.busy = n; s.mu.Unlock() }

// NAKNext echoes the next n commands with NAK.
func (s *Sim) NAKNext(n int) { s.mu.Lock(); s.faults.nakEcho = n; s.mu.Unlock() }

// SilentNext ignores the next n commands.
func (s *Sim) SilentNext(n int) { s.mu.Lock(); s.faults.silent = n; s.mu.Unlock() }

// DropNext drops n bytes from the middle of the next frame it sends (a
// serial buffer overrun).
func (s *Sim) DropNext(n int) { s.mu.Lock(); s.faults.drop = n; s.mu.Unlock() }

// DropInNextACK drops bytes from the next device ACK (0x50) it sends.
func (s *Sim) DropInNextACK(n int) { s.mu.Lock(); s.faults.dropAck = n; s.mu.Unlock() }

// Split writes every frame one byte per write; Merge holds frames and
// writes several at once.
func (s *Sim) Split(on bool) { s.mu.Lock(); s.faults.split = on; s.mu.Unlock() }
func (s *Sim) Merge(on bool) { s.mu.Lock(); s.faults.merge = on; s.mu.Unlock() }

// InterruptNextScene makes the next scene's cleanup status a NAK.
func (s *Sim) InterruptNextScene() { s.mu.Lock(); s.interrupted = true; s.mu.Unlock() }

// Inject writes raw bytes to the host (garbage on the line).
func (s *Sim) Inject(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendLocked(append([]byte(nil), b...))
}

// Serve runs the modem on rw until ctx ends or rw fails (the line was
// unplugged). It can be called again on a new line.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan []byte, 256)
	s.mu.Lock()
	s.out, s.lineCtx = out, ctx
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.out == out {
			s.out = nil
		}
		s.mu.Unlock()
	}()
	werr := make(chan error, 1)
	go func() { werr <- s.writeLoop(ctx, rw, out) }()
	rerr := make(chan error, 1)
	frames := make(chan []byte, 16)
	go func() {
		p := insteon.NewParser(insteon.FromHost)
		buf := make([]byte, 256)
		for {
			n, err := rw.Read(buf)
			if n > 0 {
				p.Feed(buf[:n])
				for {
					f, ok := p.Next()
					if !ok {
						break
					}
					if f.Kind != insteon.KindFrame {
						s.log.Warn("insteonsim: garbage from the host", "hex", f.Hex())
						continue
					}
					select {
					case frames <- f.Raw:
					case <-ctx.Done():
						return
					}
				}
			}
			if err != nil {
				rerr <- err
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-rerr:
			return fmt.Errorf("insteonsim: line read: %w", err)
		case err := <-werr:
			return fmt.Errorf("insteonsim: line write: %w", err)
		case f := <-frames:
			// The frame took its bytes' time to arrive at 19200 baud.
			sleep(ctx, time.Duration(len(f))*s.cfg.ByteTime)
			s.host(ctx, f)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeLoop sends queued frames at the serial line's speed, applying the
// split/merge/drop faults.
func (s *Sim) writeLoop(ctx context.Context, w io.Writer, out <-chan []byte) error {
	for {
		var b []byte
		select {
		case <-ctx.Done():
			return nil
		case b = <-out:
		}
		s.mu.Lock()
		split, merge := s.faults.split, s.faults.merge
		if s.faults.drop > 0 && len(b) > 4 {
			n := min(s.faults.drop, len(b)-3)
			b = append(append([]byte{}, b[:3]...), b[3+n:]...)
			s.faults.drop = 0
		}
		s.mu.Unlock()
		if merge {
			// Hold the frame until the next ones are queued (or 30 ms).
			t := time.NewTimer(30 * time.Millisecond)
		gather:
			for {
				select {
				case more := <-out:
					b = append(b, more...)
				case <-t.C:
					break gather
				}
			}
		}
		if !sleep(ctx, time.Duration(len(b))*s.cfg.ByteTime) {
			return nil
		}
		if split {
			for i := range b {
				if _, err := w.Write(b[i : i+1]); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
}

// sendLocked queues a frame for the host; s.mu is held.
func (s *Sim) sendLocked(b []byte) {
	if s.out == nil {
		return
	}
	select {
	case s.out <- b:
	default:
		s.log.Warn("insteonsim: output queue full, frame lost", "hex", fmt.Sprintf("% X", b))
	}
}

// host handles one frame from the host.
func (s *Sim) host(ctx context.Context, f []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostFrames++
	cmd := f[1]
	s.cmdCount[cmd]++
	switch {
	case s.faults.silent > 0:
		s.faults.silent--
		return
	case s.faults.busy > 0:
		s.faults.busy--
		s.sendLocked([]byte{insteon.NAK})
		return
	case s.faults.nakEcho > 0:
		s.faults.nakEcho--
		s.sendLocked(insteon.Echo(f, false))
		return
	}
	now := time.Now()
	switch cmd {
	case insteon.CmdGetIMInfo:
		s.sendLocked(insteon.EncodeIMInfo(insteon.IMInfo{Address: s.cfg.Address, Category: 0x03, Subcat: 0x15, Firmware: 0x9E}))
	case insteon.CmdGetIMConfig:
		s.sendLocked(insteon.EncodeConfigEcho(s.config))
	case insteon.CmdSetIMConfig:
		s.config = insteon.IMConfig(f[2])
		s.sendLocked(insteon.Echo(f, true))
	case insteon.CmdGetFirstLink, insteon.CmdGetNextLink:
		if cmd == insteon.CmdGetFirstLink {
			s.cursor = 0
		}
		if s.cursor >= len(s.aldb) {
			s.sendLocked(insteon.Echo(f, false))
			return
		}
		s.sendLocked(insteon.Echo(f, true))
		s.sendLocked(insteon.EncodeLinkRecord(s.aldb[s.cursor]))
		s.cursor++
	case insteon.CmdManageLink:
		code, rec, _ := insteon.DecodeManageLink(f)
		s.sendLocked(insteon.Echo(f, s.manageLocked(code, rec)))
	case insteon.CmdResetIM:
		s.resets++
		s.aldb = nil
		s.sendLocked(insteon.Echo(f, true))
	case insteon.CmdStartLinking:
		s.linking = &linkMode{code: insteon.LinkCode(f[2]), group: f[3], since: now}
		s.sendLocked(insteon.Echo(f, true))
	case insteon.CmdCancelLinking:
		s.linking = nil
		s.sendLocked(insteon.Echo(f, true))
	case insteon.CmdSend:
		if now.Before(s.lineBusy) {
			s.sendLocked(insteon.Echo(f, false)) // the modem is still on the power line
			return
		}
		msg, err := insteon.DecodeSend(f)
		if err != nil {
			s.sendLocked(insteon.Echo(f, false))
			return
		}
		s.sendLocked(insteon.Echo(f, true))
		s.direct(ctx, msg, now)
	case insteon.CmdSendAllLink:
		if now.Before(s.lineBusy) {
			s.sendLocked(insteon.Echo(f, false))
			return
		}
		s.sendLocked(insteon.Echo(f, true))
		s.scene(ctx, f[2], f[3], now)
	default:
		// Commands the simulation takes without effect (LED, sleep, ACK bytes).
		s.sendLocked(insteon.Echo(f, true))
	}
}

func (s *Sim) manageLocked(code insteon.ManageCode, rec insteon.LinkRecord) bool {
	find := func() int {
		for i, r := range s.aldb {
			if r.Same(rec) {
				return i
			}
		}
		return -1
	}
	switch code {
	case insteon.ManageFindFirst, insteon.ManageFindNext:
		return find() >= 0
	case insteon.ManageModifyOrAdd, insteon.ManageAddController, insteon.ManageAddResponder:
		if code == insteon.ManageAddController {
			rec.Flags |= insteon.LinkController
		} else if code == insteon.ManageAddResponder {
			rec.Flags &^= insteon.LinkController
		}
		rec.Flags |= insteon.LinkInUse
		if i := find(); i >= 0 {
			s.aldb[i] = rec
		} else {
			s.aldb = append(s.aldb, rec)
		}
		s.aldbWrites++
		return true
	case insteon.ManageDelete:
		i := find()
		if i < 0 {
			return false
		}
		s.aldb = append(s.aldb[:i], s.aldb[i+1:]...)
		s.aldbWrites++
		return true
	}
	return false
}

// step is one thing the power line delivers, after wait from the step
// before it (the first: from now).
type step struct {
	wait time.Duration
	fn   func() // runs with s.mu held
}

// sequence runs steps in order from one goroutine, each wait measured from
// when the step before it actually ran: under load the line may run late,
// but its messages never come out of order or closer than their timeslots.
func (s *Sim) sequence(ctx context.Context, steps []step) {
	go func() {
		for _, st := range steps {
			if !sleep(ctx, st.wait) {
				return
			}
			s.mu.Lock()
			st.fn()
			s.mu.Unlock()
		}
	}()
}

func (s *Sim) slots(n int, extended bool) time.Duration {
	if extended {
		return time.Duration(n) * s.cfg.Slot * 13 / 6
	}
	return time.Duration(n) * s.cfg.Slot
}

// direct carries a direct message to its device and the device's ACK back,
// then what the command makes the device send after its ACK: the records
// of a database read (0x2F), the SET-button broadcast of a remote link
// (0x09).
func (s *Sim) direct(ctx context.Context, msg insteon.Message, now time.Time) {
	maxHops := int(msg.Flags.MaxHops)
	out := s.slots(maxHops+1, msg.Flags.Extended)
	d := s.devs[msg.To]
	if d == nil || d.missing {
		// Nobody answers; the modem's engine gives up after the message.
		s.lineBusy = now.Add(out)
		return
	}
	used := min(d.Hops, maxHops)
	back := s.slots(used+1, false)
	acked := false
	var after []step
	var afterTime time.Duration
	then := func(wait time.Duration, fn func()) {
		after = append(after, step{wait, func() {
			if acked {
				fn()
			}
		}})
		afterTime += wait
	}
	reply := func(m insteon.Message) {
		m.From, m.To = d.Address, s.cfg.Address
		m.Flags = insteon.Flags{Type: insteon.Direct, Extended: true, HopsLeft: 0, MaxHops: uint8(used)}
		m.SetChecksum()
		s.sendLocked(insteon.EncodeReceived(m))
	}
	ext := msg.Flags.Extended && msg.ChecksumOK()
	switch {
	case ext && msg.Cmd1 == insteon.CmdReadWriteDB:
		if op, err := insteon.DecodeALDB(msg); err == nil && op.Action == insteon.ALDBRead {
			// One record, or (count 0) every record to the high-water mark,
			// each an extended message of its own.
			i, _ := d.linkAt(op.At)
			n := 1
			if op.Count == 0 {
				op.At, i, n = insteon.ALDBFirst, 0, len(d.links)+1
			}
			for k := 0; k < n && i >= 0; k++ {
				at := op.At - uint16(k*insteon.ALDBRecordSize)
				then(s.slots(used+1, true), func() {
					_, rec := d.linkAt(at)
					reply(insteon.ALDBRecordMsg(d.Address, s.cfg.Address, at, rec))
				})
			}
		}
	case ext && msg.Cmd1 == insteon.CmdEnterLinking:
		// As if its SET button were pressed: its SET broadcast (max hops
		// 3), then the modem, if in linking mode, completes the link.
		hl := 3 - min(d.Hops, 3)
		then(s.slots(4, false), func() {
			if d.noJoin {
				return
			}
			cat, sub := d.Kind.category()
			s.sendLocked(insteon.EncodeReceived(insteon.Message{From: d.Address, To: insteon.Address{cat, sub, 0x41},
				Flags: insteon.Flags{Type: insteon.Broadcast, HopsLeft: uint8(hl), MaxHops: 3}, Cmd1: insteon.CmdAssignToGroup, Cmd2: msg.Cmd2}))
			s.linkLocked(d)
		})
	}
	s.lineBusy = now.Add(out + back + afterTime)
	s.sequence(ctx, append([]step{{out + back, func() {
		ackType := insteon.DirectACK
		cmd1, cmd2 := msg.Cmd1, msg.Cmd2
		switch msg.Cmd1 {
		case insteon.CmdOn, insteon.CmdFastOn:
			lvl := msg.Cmd2
			if msg.Cmd1 == insteon.CmdFastOn || d.Kind == Switch && lvl > 0 {
				lvl = 0xFF
			}
			d.level = lvl
			cmd2 = lvl
		case insteon.CmdOff, insteon.CmdFastOff:
			d.level, cmd2 = 0, 0
		case insteon.CmdStatusRequest:
			cmd1, cmd2 = d.delta, d.level
		case insteon.CmdPing, insteon.CmdIDRequest:
		default:
			switch {
			case msg.Flags.Extended && !msg.ChecksumOK():
				ackType, cmd2 = insteon.DirectNAK, 0xFD
			case !msg.Flags.Extended:
				ackType, cmd2 = insteon.DirectNAK, 0xFC
			case msg.Cmd1 == insteon.CmdReadWriteDB:
				if !s.aldbLocked(d, msg) {
					ackType, cmd2 = insteon.DirectNAK, 0xFB
				}
			}
		}
		acked = ackType == insteon.DirectACK
		s.log.Debug("insteonsim: device answered", "address", d.Address, "cmd1", msg.Cmd1, "level", d.level, "ack", acked)
		ack := insteon.EncodeReceived(insteon.Message{From: d.Address, To: s.cfg.Address,
			Flags: insteon.Flags{Type: ackType, HopsLeft: 0, MaxHops: uint8(used)}, Cmd1: cmd1, Cmd2: cmd2})
		if s.faults.dropAck > 0 {
			ack = append(ack[:3], ack[3+min(s.faults.dropAck, len(ack)-3):]...)
			s.faults.dropAck = 0
		}
		s.sendLocked(ack)
	}}}, after...))
}

// aldbLocked checks a 0x2F read and carries out a write; false: a value
// the device refuses (NAK 0xFB).
func (s *Sim) aldbLocked(d *device, msg insteon.Message) bool {
	op, err := insteon.DecodeALDB(msg)
	if err != nil {
		return false
	}
	i, _ := d.linkAt(op.At)
	switch op.Action {
	case insteon.ALDBRead:
		return i >= 0 || op.Count == 0
	case insteon.ALDBWrite:
		if i < 0 || i > len(d.links) {
			return false // not a record's address, or past the high-water mark
		}
		if i == len(d.links) {
			d.links = append(d.links, op.Record)
		} else {
			d.links[i] = op.Record
		}
		d.delta++
		s.aldbDevWrites++
		return true
	}
	return false
}

// scene fires group g of the modem: the broadcast, each member's state,
// the cleanups to each member, then 0x56 for each that did not answer and
// 0x58.
func (s *Sim) scene(ctx context.Context, g, cmd1 byte, now time.Time) {
	broadcast := s.slots(4, false) // max hops 3
	t := broadcast
	var failed []insteon.Address
	var members []*device
	for _, r := range s.aldb {
		if r.Group != g || !r.Controller() {
			continue
		}
		d := s.devs[r.Address]
		if d == nil {
			continue
		}
		if _, ok := d.responderLevel(s.cfg.Address, g); !ok {
			continue
		}
		members = append(members, d)
	}
	for i, d := range members {
		if i == 0 {
			t += 7 * s.cfg.Slot / 6 // 7 zero crossings
		} else {
			t += 2 * s.cfg.Slot / 6
		}
		used := min(d.Hops, 1)
		t += s.slots(2, false) // the cleanup, max hops 1
		if d.missing {
			// The modem's engine tries the cleanup again with more hops.
			t += s.slots(3, false) + s.slots(4, false)
			failed = append(failed, d.Address)
			continue
		}
		t += s.slots(used+1, false) // its ACK
	}
	s.lineBusy = now.Add(t)
	interrupted := s.interrupted
	s.interrupted = false
	s.sequence(ctx, []step{{broadcast, func() {
		for _, d := range members {
			if d.missing {
				continue
			}
			if cmd1 == insteon.CmdOn || cmd1 == insteon.CmdFastOn {
				d.level, _ = d.responderLevel(s.cfg.Address, g)
			} else if cmd1 == insteon.CmdOff || cmd1 == insteon.CmdFastOff {
				d.level = 0
			}
		}
	}}, {t - broadcast, func() {
		for _, a := range failed {
			s.sendLocked(insteon.EncodeCleanupFailure(g, a))
		}
		s.sendLocked(insteon.EncodeCleanupStatus(!interrupted))
	}}})
}

// Press presses a switch's paddle (or a keypad's button) by hand: the
// device changes its load (button 1), sends its ALL-Link broadcast for the
// group, heard by the modem once per remaining hop with hops left going
// down, then its cleanup direct to the modem.
func (s *Sim) Press(a insteon.Address, group byte, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devs[a]
	if d == nil {
		return fmt.Errorf("insteonsim: no device %s", a)
	}
	if s.lineCtx == nil {
		return fmt.Errorf("insteonsim: not serving a line")
	}
	ctx := s.lineCtx
	cmd1 := byte(insteon.CmdOff)
	if on {
		cmd1 = insteon.CmdOn
	}
	if group == 1 {
		if on {
			d.level = 0xFF
		} else {
			d.level = 0
		}
	}
	const maxHops = 3
	hopsToModem := min(d.Hops, maxHops)
	now := time.Now()
	var steps []step
	prev := time.Duration(0)
	at := func(t time.Duration, m insteon.Message) {
		frame := insteon.EncodeReceived(m)
		steps = append(steps, step{t - prev, func() { s.sendLocked(frame) }})
		prev = t
	}
	// The broadcast: the modem hears it first after hopsToModem repeats,
	// then once per further repeat.
	for hl := maxHops - hopsToModem; hl >= 0; hl-- {
		flags := insteon.Flags{Type: insteon.GroupBroadcast, HopsLeft: uint8(hl), MaxHops: maxHops}
		at(s.slots(maxHops-hl+1, false), insteon.Message{From: a, To: insteon.Address{0, 0, group}, Flags: flags, Cmd1: cmd1})
	}
	// The cleanup, direct to the modem, max hops 1, after 7 zero crossings.
	t := s.slots(maxHops+1, false) + 7*s.cfg.Slot/6
	for hl := 1 - min(hopsToModem, 1); hl >= 0; hl-- {
		flags := insteon.Flags{Type: insteon.GroupCleanup, HopsLeft: uint8(hl), MaxHops: 1}
		at(t+s.slots(1-hl+1, false), insteon.Message{From: a, To: s.cfg.Address, Flags: flags, Cmd1: cmd1, Cmd2: group})
	}
	s.sequence(ctx, steps)
	// The modem's ACK of the cleanup follows; the line is busy until then.
	s.lineBusy = now.Add(t + s.slots(2, false) + s.slots(hopsToModem+1, false))
	return nil
}

// PressSet presses a device's SET button: while the modem is in linking
// mode (0x64) this links them, as the real pair would, and the modem
// reports 0x53.
func (s *Sim) PressSet(a insteon.Address) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devs[a]
	if d == nil {
		return fmt.Errorf("insteonsim: no device %s", a)
	}
	s.linkLocked(d)
	return nil
}

// linkLocked: d's SET was pressed (by hand or by 0x09). With the modem in
// linking mode, they link: the controller gets a controller record, the
// responder a responder record (its on level the device's level now, or
// full), the modem reports 0x53 and leaves linking mode. Outside linking
// mode nothing happens.
func (s *Sim) linkLocked(d *device) {
	lm := s.linking
	if lm == nil || time.Since(lm.since) > LinkingWindow {
		s.linking = nil
		return
	}
	s.linking = nil
	cat, sub := d.Kind.category()
	code := lm.code
	if code == insteon.LinkEither {
		code = insteon.LinkAsController
	}
	rec := insteon.LinkRecord{Flags: insteon.LinkInUse | 0x22, Group: lm.group, Address: d.Address, Data: [3]byte{cat, sub, 0x41}}
	on := d.level
	if on == 0 {
		on = 0xFF
	}
	if code == insteon.LinkAsController {
		rec.Flags |= insteon.LinkController
		d.addLink(insteon.LinkRecord{Flags: insteon.LinkInUse | 0x22, Group: lm.group, Address: s.cfg.Address, Data: [3]byte{on, insteon.DefaultRamp, 0x01}})
	} else {
		d.addLink(insteon.LinkRecord{Flags: insteon.LinkInUse | insteon.LinkController | 0x22, Group: lm.group, Address: s.cfg.Address, Data: [3]byte{0x03, 0x15, 0x9E}})
	}
	replaced := false
	for i, r := range s.aldb {
		if r.Same(rec) {
			s.aldb[i], replaced = rec, true
			break
		}
	}
	if !replaced {
		s.aldb = append(s.aldb, rec)
	}
	s.sendLocked(insteon.EncodeLinkingCompleted(insteon.LinkingCompleted{Code: code, Group: lm.group, Address: d.Address, Category: cat, Subcat: sub, Firmware: 0x41}))
}

// DeviceLinks is a device's own ALL-Link database, record i at memory
// address 0x0FFF - 8i.
func (s *Sim) DeviceLinks(a insteon.Address) []insteon.LinkRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.devs[a]; d != nil {
		return append([]insteon.LinkRecord(nil), d.links...)
	}
	return nil
}

// DeviceLinkWrites counts the 0x2F writes the devices took.
func (s *Sim) DeviceLinkWrites() int { s.mu.Lock(); defer s.mu.Unlock(); return s.aldbDevWrites }
