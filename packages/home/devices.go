package home

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/store"
	"oepc.dev/oepcos/plc"
	"oepc.dev/oepcos/plc/insteon"
	"oepc.dev/oepcos/plc/x10"
)

// apiError is an error with the HTTP status the API answers it with.
type apiError struct {
	status int
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func errf(status int, f string, a ...any) error {
	return &apiError{status, fmt.Errorf(f, a...)}
}

func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	return http.StatusInternalServerError
}

func (h *Home) persistDeviceLocked(d *homeapi.Device) {
	if err := store.PutJSON(h.kv, []byte(keyDevice+d.Name), d); err != nil {
		h.log.Error("saving a device's state failed", "device", d.Name, "err", err)
	}
}

// Devices lists the devices, by room then name.
func (h *Home) Devices() []homeapi.Device {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]homeapi.Device, 0, len(h.devices))
	for _, d := range h.devices {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Room != out[j].Room {
			return out[i].Room < out[j].Room
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Device returns one device.
func (h *Home) Device(name string) (homeapi.Device, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.devices[name]
	if d == nil {
		return homeapi.Device{}, errf(http.StatusNotFound, "no device %q (oepc home ls lists them)", name)
	}
	return *d, nil
}

// normalizeAddress checks a device address for its protocol and spells it
// as the driver does.
func normalizeAddress(protocol, addr string) (string, error) {
	switch plc.Protocol(protocol) {
	case plc.Insteon:
		a, err := insteon.ParseAddress(addr)
		if err != nil {
			return "", fmt.Errorf("insteon address %q: write it like 1A.2B.3C", addr)
		}
		return a.String(), nil
	case plc.X10:
		a, err := x10.ParseAddr(strings.ToUpper(addr))
		if err != nil {
			return "", fmt.Errorf("x10 address %q: a house letter A-P and a unit 1-16, like A1", addr)
		}
		return a.String(), nil
	}
	return "", fmt.Errorf("protocol %q: use insteon or x10", protocol)
}

// PutDevice adds or changes a device; a changed device keeps its state.
func (h *Home) PutDevice(d homeapi.Device) (homeapi.Device, error) {
	if err := homeapi.ValidName("device", d.Name); err != nil {
		return d, errf(http.StatusBadRequest, "%v", err)
	}
	if !slices.Contains(homeapi.Kinds, d.Kind) {
		return d, errf(http.StatusBadRequest, "device %q: kind %q: use one of %s", d.Name, d.Kind, strings.Join(homeapi.Kinds, ", "))
	}
	if len(d.Room) > 64 {
		return d, errf(http.StatusBadRequest, "device %q: room name longer than 64 bytes", d.Name)
	}
	a, err := normalizeAddress(d.Protocol, d.Address)
	if err != nil {
		return d, errf(http.StatusBadRequest, "device %q: %v", d.Name, err)
	}
	d.Address = a
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.devices[d.Name]
	if old == nil && len(h.devices) >= h.cfg.MaxDevices {
		return d, errf(http.StatusConflict, "already %d devices, the most homed keeps", len(h.devices))
	}
	for _, o := range h.devices {
		if o.Name != d.Name && o.Protocol == d.Protocol && o.Port == d.Port && o.Address == d.Address {
			return d, errf(http.StatusConflict, "device %q already has %s address %s", o.Name, d.Protocol, d.Address)
		}
	}
	d.State = homeapi.State{State: homeapi.StateUnknown}
	if old != nil && old.Protocol == d.Protocol && old.Address == d.Address && old.Port == d.Port {
		d.State = old.State
	}
	if err := store.PutJSON(h.kv, []byte(keyDevice+d.Name), &d); err != nil {
		return d, errf(http.StatusInternalServerError, "saving device %q: %v", d.Name, err)
	}
	h.devices[d.Name] = &d
	h.log.Info("device saved", "device", d.Name, "protocol", d.Protocol, "address", d.Address, "kind", d.Kind, "room", d.Room)
	return d, nil
}

// DeleteDevice removes a device no scene or schedule uses.
func (h *Home) DeleteDevice(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.devices[name] == nil {
		return errf(http.StatusNotFound, "no device %q", name)
	}
	for _, s := range h.scenes {
		for _, m := range s.Members {
			if m.Device == name {
				return errf(http.StatusConflict, "device %q is in scene %q: remove it from the scene first", name, s.Name)
			}
		}
		for _, t := range s.Triggers {
			if t.Device == name {
				return errf(http.StatusConflict, "device %q fires scene %q: remove the trigger first", name, s.Name)
			}
		}
	}
	for _, s := range h.schedules {
		if s.Device == name {
			return errf(http.StatusConflict, "schedule %q switches device %q: remove the schedule first", s.Name, name)
		}
	}
	if err := h.kv.Delete([]byte(keyDevice + name)); err != nil {
		return errf(http.StatusInternalServerError, "removing device %q: %v", name, err)
	}
	delete(h.devices, name)
	h.log.Info("device removed", "device", name)
	return nil
}

// Command operations.
const (
	opOn     = "on"
	opOff    = "off"
	opDim    = "dim"
	opStatus = "status"
)

// setState sets a device's state, saves it unless pending, and publishes it.
func (h *Home) setState(name string, st homeapi.State, source string) {
	h.mu.Lock()
	d := h.devices[name]
	if d == nil {
		h.mu.Unlock()
		return
	}
	d.State = st
	if st.State != homeapi.StatePending {
		h.persistDeviceLocked(d)
	}
	h.mu.Unlock()
	h.hub.publish(homeapi.Event{Time: st.Updated, Kind: homeapi.EventState, Device: name, State: &st, Source: source})
}

// explain turns a driver's error into what the user can do about it.
func explain(name string, err error) error {
	switch {
	case errors.Is(err, plc.ErrBadAddress):
		return errf(http.StatusBadRequest, "device %q: %v", name, err)
	case errors.Is(err, plc.ErrNAK):
		return errf(http.StatusBadGateway, "device %q refused the command (NAK): check that it is the kind of device configured", name)
	case errors.Is(err, plc.ErrNoAnswer), errors.Is(err, context.DeadlineExceeded):
		return errf(http.StatusGatewayTimeout, "device %q did not answer: check that it is plugged in and within range of the modem (%v)", name, err)
	case errors.Is(err, insteon.ErrBusy), errors.Is(err, x10.ErrQueueFull):
		return errf(http.StatusServiceUnavailable, "device %q: %v", name, err)
	}
	return errf(http.StatusBadGateway, "device %q: %v", name, err)
}

// Command switches, dims or asks a device and returns it with the state its
// ACK confirmed. Meanwhile its state is pending.
func (h *Home) Command(ctx context.Context, name, op string, level int, source string) (homeapi.Device, error) {
	d, err := h.Device(name)
	if err != nil {
		return d, err
	}
	switch op {
	case opOn, opOff, opStatus:
	case opDim:
		if !homeapi.Dimmable(d.Kind) {
			return d, errf(http.StatusBadRequest, "device %q is a %s and cannot dim: use on or off", name, d.Kind)
		}
		if level < 0 || level > 255 {
			return d, errf(http.StatusBadRequest, "level %d: use 0 (off) to 255 (full)", level)
		}
	default:
		return d, errf(http.StatusNotFound, "no command %q: use on, off, dim or status", op)
	}
	slot, err := h.slotFor(d)
	if err != nil {
		return d, errf(http.StatusServiceUnavailable, "%v", err)
	}
	m, err := slot.get()
	if err != nil {
		st := homeapi.State{State: homeapi.StateError, Level: d.State.Level, Error: err.Error(), Updated: h.clock.Now()}
		h.setState(name, st, source)
		return h.mustDevice(name, d), errf(http.StatusServiceUnavailable, "device %q: %v", name, err)
	}
	select {
	case h.inflight <- struct{}{}:
		defer func() { <-h.inflight }()
	default:
		return d, errf(http.StatusServiceUnavailable, "%d commands are already waiting on the modems; try again in a moment", cap(h.inflight))
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CommandTimeout)
	defer cancel()
	h.setState(name, homeapi.State{State: homeapi.StatePending, Level: d.State.Level, Updated: h.clock.Now()}, source)
	a := plc.Address(d.Address)
	var got int
	start := time.Now()
	switch op {
	case opOn:
		err, got = m.On(ctx, a), 255
	case opOff:
		err, got = m.Off(ctx, a), 0
	case opDim:
		err, got = m.Dim(ctx, a, plc.Level(level)), level
	case opStatus:
		var l plc.Level
		l, err = m.Status(ctx, a)
		got = int(l)
		if errors.Is(err, x10.ErrUnconfirmed) {
			// A one-way X10 module: the level is the last known one.
			st := stateOf(got, h.clock.Now())
			st.Error = "not confirmed: this X10 module does not answer status requests"
			h.setState(name, st, source)
			return h.mustDevice(name, d), nil
		}
	}
	now := h.clock.Now()
	if err != nil {
		xe := explain(name, err)
		h.log.Warn("device command failed", "device", name, "op", op, "err", err, "took", time.Since(start))
		h.setState(name, homeapi.State{State: homeapi.StateError, Level: d.State.Level, Error: xe.Error(), Updated: now}, source)
		return h.mustDevice(name, d), xe
	}
	h.log.Info("device command", "device", name, "op", op, "level", got, "took", time.Since(start), "source", source)
	h.setState(name, stateOf(got, now), source)
	return h.mustDevice(name, d), nil
}

func (h *Home) mustDevice(name string, fallback homeapi.Device) homeapi.Device {
	if d, err := h.Device(name); err == nil {
		return d
	}
	return fallback
}
