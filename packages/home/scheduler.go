package home

import (
	"context"
	"net/http"
	"sort"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
	"oepc.dev/oepcos/packages/store"
)

// missedGrace: a schedule due longer ago than this (the box was off, the
// clock jumped) is skipped, not fired late.
const missedGrace = 15 * time.Minute

// clockSet says whether the clock has been set (gokrazy starts at 1970
// until NTP answers).
func clockSet(t time.Time) bool { return t.Year() >= ClockSetYear }

// nextLocked computes when e fires next, after its last firing and now.
func (h *Home) nextLocked(e *schedEntry, now time.Time) {
	if !clockSet(now) {
		e.Next = time.Time{}
		return
	}
	after := now
	if e.Last.After(after) {
		after = e.Last
	}
	e.Next = e.w.next(after, h.loc, h.settings.Latitude, h.settings.Longitude)
}

func (h *Home) kickScheduler() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// runScheduler fires the schedules on time until ctx ends.
func (h *Home) runScheduler(ctx context.Context) {
	waited := false
	for ctx.Err() == nil {
		now := h.clock.Now()
		if !clockSet(now) {
			if !waited {
				h.log.Info("waiting for the clock to be set before running schedules", "now", now)
				waited = true
			}
			select {
			case <-ctx.Done():
				return
			case <-h.clock.After(time.Second):
			case <-h.kick:
			}
			continue
		}
		if waited {
			h.log.Info("clock set; schedules run", "now", now)
			waited = false
		}
		var due []homeapi.Schedule
		var soonest time.Time
		h.mu.Lock()
		for _, e := range h.schedules {
			if e.Next.IsZero() {
				h.nextLocked(e, now)
			}
			if e.Next.IsZero() {
				continue
			}
			if !e.Next.After(now) {
				if now.Sub(e.Next) <= missedGrace {
					due = append(due, e.Schedule)
				} else {
					h.log.Warn("schedule missed (the box was off or the clock jumped); not firing it late", "schedule", e.Name, "was_due", e.Next)
				}
				e.Last = e.Next
				if err := store.PutJSON(h.kv, []byte(keySchedule+e.Name), e.Schedule); err != nil {
					h.log.Error("saving a schedule failed", "schedule", e.Name, "err", err)
				}
				h.nextLocked(e, now)
			}
			if !e.Next.IsZero() && (soonest.IsZero() || e.Next.Before(soonest)) {
				soonest = e.Next
			}
		}
		h.mu.Unlock()
		sort.Slice(due, func(i, j int) bool { return due[i].Name < due[j].Name })
		for _, s := range due {
			h.fire(ctx, s)
		}
		if len(due) > 0 {
			continue
		}
		// Wake at the soonest firing, and at least every minute, so a
		// wall-clock jump (NTP) is noticed.
		wait := time.Minute
		if !soonest.IsZero() && soonest.Sub(now) < wait {
			wait = soonest.Sub(now)
		}
		select {
		case <-ctx.Done():
			return
		case <-h.clock.After(wait):
		case <-h.kick:
		}
	}
}

// fire runs one schedule's action.
func (h *Home) fire(ctx context.Context, s homeapi.Schedule) {
	ctx, cancel := context.WithTimeout(ctx, 4*h.cfg.CommandTimeout)
	defer cancel()
	var err error
	switch {
	case s.Scene != "":
		_, err = h.FireScene(ctx, s.Scene, s.Action == homeapi.ActionOn, "schedule")
	default:
		_, err = h.Command(ctx, s.Device, s.Action, s.Level, "schedule")
	}
	e := homeapi.Event{Time: h.clock.Now(), Kind: homeapi.EventSchedule, Schedule: s.Name, Scene: s.Scene, Device: s.Device, Source: "schedule"}
	if err != nil {
		e.Error = err.Error()
		h.log.Warn("schedule fired with an error", "schedule", s.Name, "err", err)
	} else {
		h.log.Info("schedule fired", "schedule", s.Name, "scene", s.Scene, "device", s.Device, "action", s.Action)
	}
	h.hub.publish(e)
}

// Schedules lists the schedules with their next firing.
func (h *Home) Schedules() []homeapi.Schedule {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]homeapi.Schedule, 0, len(h.schedules))
	for _, e := range h.schedules {
		out = append(out, e.Schedule)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PutSchedule adds or changes a schedule.
func (h *Home) PutSchedule(s homeapi.Schedule) (homeapi.Schedule, error) {
	if err := homeapi.ValidName("schedule", s.Name); err != nil {
		return s, errf(http.StatusBadRequest, "%v", err)
	}
	w, err := parseWhen(s)
	if err != nil {
		return s, errf(http.StatusBadRequest, "%v", err)
	}
	if (s.Scene == "") == (s.Device == "") {
		return s, errf(http.StatusBadRequest, "schedule %q: give either a scene or a device", s.Name)
	}
	switch s.Action {
	case homeapi.ActionOn, homeapi.ActionOff:
	case homeapi.ActionDim:
		if s.Scene != "" {
			return s, errf(http.StatusBadRequest, "schedule %q: a scene fires on or off; dim is for a device", s.Name)
		}
		if s.Level < 0 || s.Level > 255 {
			return s, errf(http.StatusBadRequest, "schedule %q: level %d: use 0 to 255", s.Name, s.Level)
		}
	default:
		return s, errf(http.StatusBadRequest, "schedule %q: action %q: use on, off or dim", s.Name, s.Action)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.Scene != "" {
		if _, ok := h.scenes[s.Scene]; !ok {
			return s, errf(http.StatusBadRequest, "schedule %q: no scene %q", s.Name, s.Scene)
		}
	} else {
		d := h.devices[s.Device]
		if d == nil {
			return s, errf(http.StatusBadRequest, "schedule %q: no device %q", s.Name, s.Device)
		}
		if s.Action == homeapi.ActionDim && !homeapi.Dimmable(d.Kind) {
			return s, errf(http.StatusBadRequest, "schedule %q: device %q is a %s and cannot dim", s.Name, s.Device, d.Kind)
		}
	}
	old := h.schedules[s.Name]
	if old == nil && len(h.schedules) >= h.cfg.MaxSchedules {
		return s, errf(http.StatusConflict, "already %d schedules, the most homed keeps", len(h.schedules))
	}
	e := &schedEntry{Schedule: s, w: w}
	e.Next, e.Last = time.Time{}, time.Time{}
	if old != nil {
		e.Last = old.Last
	}
	h.nextLocked(e, h.clock.Now())
	if err := store.PutJSON(h.kv, []byte(keySchedule+s.Name), e.Schedule); err != nil {
		return s, errf(http.StatusInternalServerError, "saving schedule %q: %v", s.Name, err)
	}
	h.schedules[s.Name] = e
	h.kickScheduler()
	h.log.Info("schedule saved", "schedule", s.Name, "at", s.At, "offset", s.Offset, "next", e.Next)
	return e.Schedule, nil
}

// DeleteSchedule removes a schedule.
func (h *Home) DeleteSchedule(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.schedules[name] == nil {
		return errf(http.StatusNotFound, "no schedule %q", name)
	}
	if err := h.kv.Delete([]byte(keySchedule + name)); err != nil {
		return errf(http.StatusInternalServerError, "removing schedule %q: %v", name, err)
	}
	delete(h.schedules, name)
	h.kickScheduler()
	return nil
}

// Settings returns the owner's settings.
func (h *Home) Settings() homeapi.Settings {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.settings
}

// PutSettings changes the owner's settings; every schedule's next firing
// is computed again.
func (h *Home) PutSettings(s homeapi.Settings) (homeapi.Settings, error) {
	if s.TimeZone == "" {
		s.TimeZone = h.cfg.TimeZone
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return s, errf(http.StatusBadRequest, "time zone %q: use an IANA name like Europe/Berlin", s.TimeZone)
	}
	if s.Latitude < -90 || s.Latitude > 90 || s.Longitude < -180 || s.Longitude > 180 {
		return s, errf(http.StatusBadRequest, "latitude %g, longitude %g: use -90 to 90 and -180 to 180", s.Latitude, s.Longitude)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := store.PutJSON(h.kv, []byte(keySettings), s); err != nil {
		return s, errf(http.StatusInternalServerError, "saving the settings: %v", err)
	}
	h.settings, h.loc = s, loc
	now := h.clock.Now()
	for _, e := range h.schedules {
		h.nextLocked(e, now)
	}
	h.kickScheduler()
	return s, nil
}
