// Package x10sim is a simulated X10 CM11A power-line interface, with lamp
// modules, appliance modules and wall switches on its simulated power line.
// It serves the interface's end of a serial line (a pseudo-terminal's
// controlling end in tests, any io.ReadWriter in the devnet) and keeps the
// real timing: 4800 baud pacing on the serial line and X10's power-line
// time per frame (x10.LineCycles), both divided by Config.Speed.
//
// Like the real interface it answers the checksum handshake, polls with
// 0x5A once a second while its upload buffer holds what it heard on the
// line and uploads it after 0xC3, ignores host frames while it polls,
// polls with 0xA5 after a power failure until it gets the clock, answers
// the status request 0x8B, and keeps at most 8 data bytes in its buffer
// (an overrun loses the rest). Faults can be injected (Inject).
package x10sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/x10"
)

// Kind is what a simulated device is.
type Kind int

const (
	// Lamp is a one-way lamp module (LM465): on, off, dim, bright; an off
	// lamp goes to full brightness on dim or bright. It never answers.
	Lamp Kind = iota
	// TwoWayLamp is a lamp module that answers a status request with
	// Status On / Status Off (LM14A) and takes extended preset dim (0x31).
	TwoWayLamp
	// Appliance is a one-way relay module (AM466): on and off only.
	Appliance
	// WallSwitch is a transmitting wall switch: it obeys on/off/dim like a
	// lamp, and when pressed by hand (Press) sends its address and the
	// function over the line.
	WallSwitch
)

func (k Kind) String() string {
	return [...]string{"lamp", "two-way-lamp", "appliance", "wall-switch"}[k]
}

// Device is one device on the simulated line.
type Device struct {
	Addr x10.Addr
	Kind Kind
}

// Config sets up the simulator.
type Config struct {
	Devices []Device
	// Speed divides every time: 1 is real time (the benchmark), 20 makes a
	// command take 1/20 of its real time (tests).
	Speed float64
	// Hz is the mains frequency [60].
	Hz int
	// PowerFail starts the interface as after a power failure: it polls
	// with 0xA5 and takes nothing else until it gets the clock.
	PowerFail bool
	// SerialTimeout is how long the interface waits for the host's next
	// byte inside an exchange before it gives up on it [1 s]. Not divided
	// by Speed: it is the host's reaction time, not the line's.
	SerialTimeout time.Duration
	// MonitoredHouse is the house the interface tracks for 0x8B ['A'].
	MonitoredHouse byte
	Logger         *slog.Logger
}

// Fault is a misbehaviour to inject; counts apply to the next frames.
type Fault struct {
	WrongChecksum int    // answer the next N frames with a wrong checksum
	NoChecksum    int    // answer the next N frames with nothing at all
	NoReady       int    // transmit the next N frames but lose the 0x55
	Garbage       []byte // send these bytes before the next answer
	// Burst: write what the interface has to say in one write (the
	// checksum, ready and a following poll arrive in one read) instead of
	// byte by byte. Stays on until cleared with Inject(Fault{}).
	Burst bool
	// PollOnNext: ignore the next host frame, as a real interface does when
	// it heard these items just before the frame arrived and is polling.
	PollOnNext []x10.Item
}

type device struct {
	Device
	on   bool
	step int // 0-22 brightness when on
	// preset: the level of the last Preset Dim (one of 32), until a
	// relative command moves it to a step again.
	preset      plc.Level
	presetValid bool
}

func (d *device) level() plc.Level {
	if !d.on {
		return 0
	}
	if d.presetValid {
		return d.preset
	}
	if d.Kind == Appliance {
		return 255
	}
	return x10.LevelOf(d.step)
}

// Sim is the simulated interface.
type Sim struct {
	cfg  Config
	log  *slog.Logger
	rw   io.ReadWriter
	rx   chan byte
	line chan []x10.Item // presses by hand, onto the power line
	wake chan struct{}   // the test changed something the firmware waits on

	mu        sync.Mutex
	devs      map[x10.Addr]*device
	sel       map[byte][]int // house -> addressed units (modules' view)
	selDone   map[byte]bool
	lastHouse byte   // the house last addressed (where a Preset Dim goes)
	buf       []byte // upload data bytes
	mask      byte
	overruns  int
	powerFail bool
	clock     x10.Clock
	clockAt   time.Time
	clockSet  bool
	fault     Fault
	sent      [][]byte  // host frames transmitted on the line, in order
	writeAt   time.Time // pacing of the serial line out
	// Owned by the firmware goroutine:
	outbox   []byte // Burst mode: what waits for one write
	pushback []byte // host bytes read ahead, to be read again
}

// New makes a simulator serving rw. Run starts it.
func New(rw io.ReadWriter, cfg Config) *Sim {
	if cfg.Speed <= 0 {
		cfg.Speed = 1
	}
	if cfg.Hz == 0 {
		cfg.Hz = 60
	}
	if _, ok := x10.HouseCode(cfg.MonitoredHouse); !ok {
		cfg.MonitoredHouse = 'A'
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SerialTimeout <= 0 {
		cfg.SerialTimeout = time.Second
	}
	s := &Sim{cfg: cfg, log: cfg.Logger, rw: rw, rx: make(chan byte, 4096), line: make(chan []x10.Item, 16), wake: make(chan struct{}, 1),
		devs: map[x10.Addr]*device{}, sel: map[byte][]int{}, selDone: map[byte]bool{},
		powerFail: cfg.PowerFail}
	for _, d := range cfg.Devices {
		s.devs[d.Addr] = &device{Device: d, step: x10.MaxDims}
	}
	return s
}

// scale divides a real duration by the speed factor.
func (s *Sim) scale(d time.Duration) time.Duration { return time.Duration(float64(d) / s.cfg.Speed) }

func (s *Sim) cycles(n int) time.Duration { return s.scale(time.Duration(n) * x10.CycleTime(s.cfg.Hz)) }

// Run serves the line until ctx ends or the line fails.
func (s *Sim) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.readLoop(ctx) }()
	err := s.loop(ctx)
	cancel()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// readLoop paces incoming bytes: a byte is "here" only once its 10 bits
// have crossed the line at 4800 baud.
func (s *Sim) readLoop(ctx context.Context) error {
	buf := make([]byte, 256)
	var arrive time.Time
	for {
		n, err := s.rw.Read(buf)
		now := time.Now()
		if arrive.Before(now) {
			arrive = now
		}
		for _, b := range buf[:n] {
			arrive = arrive.Add(s.scale(x10.ByteTime))
			sleepUntil(ctx, arrive)
			select {
			case s.rx <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return err
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// send writes bytes paced at 4800 baud. In Burst mode they wait in an
// outbox, flushed in one write when the interface next waits for the host.
func (s *Sim) send(ctx context.Context, b ...byte) error {
	s.mu.Lock()
	f := &s.fault
	if len(f.Garbage) > 0 {
		b = append(append([]byte(nil), f.Garbage...), b...)
		f.Garbage = nil
	}
	burst := f.Burst
	s.mu.Unlock()
	if burst {
		s.outbox = append(s.outbox, b...)
		return nil
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	for _, c := range b {
		s.pace(ctx, 1)
		if _, err := s.rw.Write([]byte{c}); err != nil {
			return err
		}
	}
	return nil
}

// pace waits for n bytes' time on the serial line.
func (s *Sim) pace(ctx context.Context, n int) {
	now := time.Now()
	if s.writeAt.Before(now) {
		s.writeAt = now
	}
	s.writeAt = s.writeAt.Add(s.scale(time.Duration(n) * x10.ByteTime))
	sleepUntil(ctx, s.writeAt)
}

func (s *Sim) flush(ctx context.Context) error {
	if len(s.outbox) == 0 {
		return nil
	}
	s.pace(ctx, len(s.outbox))
	_, err := s.rw.Write(s.outbox)
	s.outbox = nil
	return err
}

// next waits up to d for a byte from the host; ok false on timeout.
func (s *Sim) next(ctx context.Context, d time.Duration) (byte, bool, error) {
	if err := s.flush(ctx); err != nil {
		return 0, false, err
	}
	if n := len(s.pushback); n > 0 {
		b := s.pushback[n-1]
		s.pushback = s.pushback[:n-1]
		return b, true, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case b := <-s.rx:
		return b, true, nil
	case <-t.C:
		return 0, false, nil
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
}

// loop is the interface's firmware.
func (s *Sim) loop(ctx context.Context) error {
	second := s.scale(time.Second)
	for {
		s.mu.Lock()
		pf, polling := s.powerFail, len(s.buf) > 0
		s.mu.Unlock()
		switch {
		case pf:
			if err := s.send(ctx, x10.PollPowerFail); err != nil {
				return err
			}
			if err := s.awaitClock(ctx, second); err != nil {
				return err
			}
		case polling:
			if err := s.send(ctx, x10.PollData); err != nil {
				return err
			}
			if err := s.awaitPollAck(ctx, second); err != nil {
				return err
			}
		default:
			if err := s.flush(ctx); err != nil {
				return err
			}
			if n := len(s.pushback); n > 0 {
				b := s.pushback[n-1]
				s.pushback = s.pushback[:n-1]
				if err := s.host(ctx, b); err != nil {
					return err
				}
				continue
			}
			select {
			case b := <-s.rx:
				if err := s.host(ctx, b); err != nil {
					return err
				}
			case items := <-s.line:
				s.hear(ctx, items)
			case <-s.wake:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

func (s *Sim) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// awaitClock waits up to d for the clock frame; everything else is ignored.
func (s *Sim) awaitClock(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		b, ok, err := s.next(ctx, time.Until(deadline))
		if err != nil || !ok {
			return err
		}
		if b == x10.ClockHeader {
			return s.clockFrame(ctx)
		}
	}
}

func (s *Sim) clockFrame(ctx context.Context) error {
	frame := []byte{x10.ClockHeader}
	for len(frame) < 7 {
		b, ok, err := s.next(ctx, s.cfg.SerialTimeout)
		if err != nil || !ok {
			return err
		}
		frame = append(frame, b)
	}
	if done, err := s.handshake(ctx, frame); err != nil || !done {
		return err
	}
	c, err := x10.DecodeClock(frame)
	if err != nil {
		s.log.Warn("x10sim: bad clock frame", "err", err)
		return s.send(ctx, x10.Ready)
	}
	s.mu.Lock()
	s.clock, s.clockAt, s.clockSet, s.powerFail = c, time.Now(), true, false
	s.cfg.MonitoredHouse = c.House
	s.mu.Unlock()
	s.log.Info("x10sim: clock set", "hour", c.Hour, "minute", c.Minute)
	return s.send(ctx, x10.Ready)
}

// awaitPollAck waits up to d for 0xC3 and uploads the buffer; host frames
// meanwhile are ignored, as the real interface ignores them while polling.
func (s *Sim) awaitPollAck(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		// The power line is still heard while polling.
		select {
		case items := <-s.line:
			s.hear(ctx, items)
		default:
		}
		b, ok, err := s.next(ctx, min(time.Until(deadline), s.scale(100*time.Millisecond)))
		if err != nil {
			return err
		}
		if !ok {
			if time.Now().After(deadline) {
				return nil
			}
			continue
		}
		if b != x10.PollAck {
			continue
		}
		s.mu.Lock()
		up := append([]byte{byte(len(s.buf) + 1), s.mask}, s.buf...)
		s.buf, s.mask = nil, 0
		s.mu.Unlock()
		return s.send(ctx, up...)
	}
}

// host handles a byte from the host while idle.
func (s *Sim) host(ctx context.Context, b byte) error {
	switch {
	case b&0x04 != 0: // a header: bit 2 is always set (protocol.txt 3.1.1)
		return s.hostFrame(ctx, b)
	case b == x10.InfoRequest:
		return s.send(ctx, s.info()...)
	case b == x10.ClockHeader:
		return s.clockFrame(ctx)
	default: // 0x00 or 0xC3 out of turn, noise: ignored
		return nil
	}
}

func (s *Sim) hostFrame(ctx context.Context, hdr byte) error {
	n := 2
	if hdr == 0x07 {
		n = 5
	}
	frame := []byte{hdr}
	for len(frame) < n {
		b, ok, err := s.next(ctx, s.cfg.SerialTimeout)
		if err != nil || !ok {
			return err // the interface resets its serial side after a pause
		}
		frame = append(frame, b)
	}
	s.mu.Lock()
	poll := s.fault.PollOnNext
	s.fault.PollOnNext = nil
	s.mu.Unlock()
	if poll != nil {
		// Heard something just before: the frame is ignored and the
		// interface starts polling.
		s.store(poll)
		return nil
	}
	done, err := s.handshake(ctx, frame)
	if err != nil || !done {
		return err
	}
	return s.transmit(ctx, frame)
}

// handshake answers a frame's checksum and waits for 0x00. done false: the
// host sent something else (kept in s.rx for the caller) or nothing.
func (s *Sim) handshake(ctx context.Context, frame []byte) (bool, error) {
	sum := x10.Checksum(frame)
	s.mu.Lock()
	f := &s.fault
	switch {
	case f.NoChecksum > 0:
		f.NoChecksum--
		s.mu.Unlock()
		return false, nil
	case f.WrongChecksum > 0:
		f.WrongChecksum--
		sum++
	}
	s.mu.Unlock()
	if err := s.send(ctx, sum); err != nil {
		return false, err
	}
	b, ok, err := s.next(ctx, s.cfg.SerialTimeout)
	if err != nil || !ok {
		return false, err
	}
	if b == x10.Confirm && sum == x10.Checksum(frame) {
		return true, nil
	}
	if b == x10.Confirm {
		return false, nil // confirmed a wrong sum: the real one drops it
	}
	s.pushback = append(s.pushback, b) // it starts the next frame
	return false, nil
}

// transmit puts a host frame on the power line, lets the devices act on
// it, and answers ready.
func (s *Sim) transmit(ctx context.Context, frame []byte) error {
	sleepUntil(ctx, time.Now().Add(s.cycles(x10.LineCycles(frame))))
	s.mu.Lock()
	s.sent = append(s.sent, append([]byte(nil), frame...))
	replies := s.act(frame)
	lose := s.fault.NoReady > 0
	if lose {
		s.fault.NoReady--
	}
	s.mu.Unlock()
	if !lose {
		if err := s.send(ctx, x10.Ready); err != nil {
			return err
		}
	}
	for _, r := range replies {
		s.hear(ctx, r)
	}
	return nil
}

// act applies a transmitted frame to the devices (s.mu held) and returns
// what two-way devices answer over the line.
func (s *Sim) act(frame []byte) (replies [][]x10.Item) {
	if frame[0] == 0x07 {
		a := x10.Addr{House: x10.HouseLetter(frame[1] >> 4), Unit: x10.UnitNumber(frame[2])}
		if d := s.devs[a]; d != nil && d.Kind == TwoWayLamp && frame[4] == 0x31 {
			d.step = x10.StepOf(plc.Level(int(frame[3]&0x3F) * 255 / 63))
			d.on = d.step > 0
			d.presetValid = false
		}
		return nil
	}
	code := frame[1]
	h := x10.HouseLetter(code >> 4)
	if frame[0]&0x02 == 0 {
		s.address(x10.AddrOfCode(code))
		return nil
	}
	f := x10.Function(code & 0xF)
	dims := int(frame[0] >> 3)
	return s.function(h, f, dims)
}

func (s *Sim) address(a x10.Addr) {
	s.lastHouse = a.House
	if s.selDone[a.House] {
		s.sel[a.House], s.selDone[a.House] = nil, false
	}
	for _, u := range s.sel[a.House] {
		if u == a.Unit {
			return
		}
	}
	s.sel[a.House] = append(s.sel[a.House], a.Unit)
}

func (s *Sim) function(h byte, f x10.Function, dims int) (replies [][]x10.Item) {
	if f == x10.PresetDim1 || f == x10.PresetDim2 {
		return s.preset(h, f)
	}
	s.selDone[h] = true
	var targets []*device
	switch f {
	case x10.AllUnitsOff, x10.AllLightsOn, x10.AllLightsOff:
		for _, d := range s.devs {
			if d.Addr.House == h {
				targets = append(targets, d)
			}
		}
	default:
		for _, u := range s.sel[h] {
			if d := s.devs[x10.Addr{House: h, Unit: u}]; d != nil {
				targets = append(targets, d)
			}
		}
	}
	for _, d := range targets {
		lamp := d.Kind != Appliance
		d.presetValid = false
		switch f {
		case x10.On:
			d.on = true
			if lamp && d.step == 0 {
				d.step = x10.MaxDims
			}
		case x10.Off, x10.AllUnitsOff:
			d.on = false
		case x10.AllLightsOn:
			if lamp {
				d.on, d.step = true, x10.MaxDims
			}
		case x10.AllLightsOff:
			if lamp {
				d.on = false
			}
		case x10.Dim, x10.Bright:
			if !lamp {
				continue
			}
			if !d.on { // an off lamp module goes to full first
				d.on, d.step = true, x10.MaxDims
			}
			if f == x10.Dim {
				d.step = max(0, d.step-dims)
			} else {
				d.step = min(x10.MaxDims, d.step+dims)
			}
		case x10.StatusRequest:
			if d.Kind == TwoWayLamp {
				ans := x10.StatusOff
				if d.on {
					ans = x10.StatusOn
				}
				replies = append(replies, []x10.Item{{Addr: d.Addr}, {IsFunction: true, House: h, Func: ans}})
			}
		}
	}
	return replies
}

// preset applies Preset Dim (its house nibble is the level) to the units
// addressed just before: a two-way lamp module (LM14A) takes the level, a
// plain lamp or appliance module ignores it.
func (s *Sim) preset(h byte, f x10.Function) [][]x10.Item {
	hc, _ := x10.HouseCode(h)
	n, _ := x10.PresetLevel(hc<<4 | byte(f))
	house := s.lastHouse
	s.selDone[house] = true
	for _, u := range s.sel[house] {
		d := s.devs[x10.Addr{House: house, Unit: u}]
		if d == nil || d.Kind != TwoWayLamp {
			continue
		}
		d.step = x10.StepOf(x10.LevelOfPreset(n))
		d.on = n > 0
		d.preset, d.presetValid = x10.LevelOfPreset(n), true
	}
	return nil
}

// hear receives items from the power line (a press by hand, a module's
// answer): the line time passes, the devices act, the interface stores
// them in its upload buffer.
func (s *Sim) hear(ctx context.Context, items []x10.Item) {
	for _, it := range items {
		n := 2*x10.FrameCycles + x10.GapCycles
		if it.IsFunction && (it.Func == x10.Dim || it.Func == x10.Bright) {
			n = max(2, x10.StepsOfAmount(it.DimAmount))*x10.FrameCycles + x10.GapCycles
		}
		sleepUntil(ctx, time.Now().Add(s.cycles(n)))
	}
	s.mu.Lock()
	for _, it := range items {
		if it.IsFunction {
			dims := x10.StepsOfAmount(it.DimAmount)
			s.function(it.House, it.Func, dims)
		} else {
			s.address(it.Addr)
		}
	}
	s.mu.Unlock()
	s.store(items)
}

// store appends items to the upload buffer, byte by byte, up to 8 data
// bytes; what does not fit is lost (the interface's buffer overrun).
func (s *Sim) store(items []x10.Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		var bs []byte
		fn := false
		if it.IsFunction {
			fn = true
			h, _ := x10.HouseCode(it.House)
			bs = []byte{h<<4 | byte(it.Func)}
			switch it.Func {
			case x10.Dim, x10.Bright:
				bs = append(bs, byte(it.DimAmount))
			case x10.ExtendedCode:
				u, _ := x10.UnitCode(it.Unit)
				bs = append(bs, u, it.Data, it.Cmd)
			}
		} else {
			bs = []byte{it.Addr.Code()}
		}
		for i, b := range bs {
			if len(s.buf) >= 8 {
				s.overruns++
				s.log.Warn("x10sim: upload buffer overrun, byte lost", "byte", fmt.Sprintf("%02x", b))
				continue
			}
			if fn && i == 0 {
				s.mask |= 1 << uint(len(s.buf))
			}
			s.buf = append(s.buf, b)
		}
	}
}

func (s *Sim) info() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := x10.Info{BatteryTimer: 0xFFFF, House: s.cfg.MonitoredHouse, Firmware: 8}
	if s.clockSet {
		in.BatteryTimer = 0
		elapsed := time.Duration(float64(time.Since(s.clockAt)) * s.cfg.Speed)
		t := time.Date(2000, 1, 1, s.clock.Hour, s.clock.Minute, s.clock.Second, 0, time.UTC).Add(elapsed)
		in.Clock = x10.Clock{Second: t.Second(), Minute: t.Minute(), Hour: t.Hour(), YearDay: s.clock.YearDay, Weekday: s.clock.Weekday}
	}
	for _, d := range s.devs {
		if d.Addr.House != in.House {
			continue
		}
		bit := uint16(1) << uint(d.Addr.Unit-1)
		if d.on {
			in.OnOff |= bit
			if d.Kind != Appliance && d.step < x10.MaxDims {
				in.DimmedUnits |= bit
			}
		}
	}
	for _, u := range s.sel[in.House] {
		in.Addressed |= 1 << uint(u-1)
	}
	return x10.EncodeInfo(in)
}

// --- the test's side -----------------------------------------------------------

// Press is a hand on a wall switch: it turns the switch on or off and
// sends its address and On/Off over the line.
func (s *Sim) Press(a x10.Addr, on bool) error {
	f := x10.Off
	if on {
		f = x10.On
	}
	return s.Send([]x10.Item{{Addr: a}, {IsFunction: true, House: a.House, Func: f}})
}

// Send puts items on the power line as another controller would (a wall
// switch, a remote, a motion sensor).
func (s *Sim) Send(items []x10.Item) error {
	for _, it := range items {
		if !it.IsFunction {
			if d := s.devs[it.Addr]; d == nil {
				return fmt.Errorf("x10sim: no device at %s", it.Addr)
			}
		}
	}
	select {
	case s.line <- items:
		return nil
	default:
		return errors.New("x10sim: power line busy")
	}
}

// Inject sets the faults for the next frames (replacing earlier ones).
func (s *Sim) Inject(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Level is a device's level as the device has it (0 off, 255 full).
func (s *Sim) Level(a x10.Addr) (plc.Level, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devs[a]
	if d == nil {
		return 0, false
	}
	return d.level(), true
}

// SetLevel changes a device by hand without sending anything (a lamp
// module's own knob, a one-way switch).
func (s *Sim) SetLevel(a x10.Addr, l plc.Level) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.devs[a]; d != nil {
		d.on, d.step = l > 0, x10.StepOf(l)
	}
}

// Clock is the clock the host set, and whether it set one.
func (s *Sim) Clock() (x10.Clock, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock, s.clockSet
}

// Sent is every host frame put on the power line so far.
func (s *Sim) Sent() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.sent...)
}

// Overruns counts data bytes lost to a full upload buffer.
func (s *Sim) Overruns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overruns
}

// PowerFail makes the interface poll 0xA5 again, as after a power cut.
func (s *Sim) PowerFail() {
	s.mu.Lock()
	s.powerFail, s.clockSet = true, false
	s.mu.Unlock()
	s.poke()
}
