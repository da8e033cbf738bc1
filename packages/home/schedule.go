package home

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nathan-osman/go-sunrise"

	"oepc.dev/oepcos/packages/home/homeapi"
)

// when is a schedule's time rule, parsed.
type when struct {
	sun      string // "sunrise", "sunset" or "" (a time of day)
	hour     int
	minute   int
	offset   time.Duration
	weekdays [7]bool // all false: every day
}

func parseWhen(s homeapi.Schedule) (when, error) {
	var w when
	switch at := strings.ToLower(strings.TrimSpace(s.At)); at {
	case "sunrise", "sunset":
		w.sun = at
	default:
		hh, mm, ok := strings.Cut(at, ":")
		h, err1 := strconv.Atoi(hh)
		m, err2 := strconv.Atoi(mm)
		if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(mm) != 2 {
			return w, fmt.Errorf("schedule %q: at %q: use a time of day HH:MM (00:00-23:59), sunrise or sunset", s.Name, s.At)
		}
		w.hour, w.minute = h, m
	}
	if s.Offset < -720 || s.Offset > 720 {
		return w, fmt.Errorf("schedule %q: offset %d minutes: use -720 to 720", s.Name, s.Offset)
	}
	w.offset = time.Duration(s.Offset) * time.Minute
	for _, d := range s.Weekdays {
		wd, err := homeapi.ParseWeekday(d)
		if err != nil {
			return w, fmt.Errorf("schedule %q: %v", s.Name, err)
		}
		w.weekdays[wd] = true
	}
	return w, nil
}

func (w when) onDay(d time.Weekday) bool {
	if w.weekdays == [7]bool{} {
		return true
	}
	return w.weekdays[d]
}

// wallTime is the instant of a wall-clock time on a date in loc. A time that
// the spring-forward gap skips is moved forward by the gap (02:30 becomes
// 03:30), as time.Date does; a time that the fall-back hour repeats is its
// first instant, so a schedule fires once, not twice.
func wallTime(y int, m time.Month, d, hour, min int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, hour, min, 0, 0, loc)
	if t.Hour() != hour || t.Minute() != min {
		// In the gap: read the wall time with the offset in force before
		// the change, which lands as far past the change as the wall time
		// is past its start.
		_, before := time.Date(y, m, d, 0, 0, 0, 0, loc).Zone()
		return time.Date(y, m, d, hour, min, 0, 0, time.UTC).Add(-time.Duration(before) * time.Second).In(loc)
	}
	if e := t.Add(-time.Hour); e.Hour() == t.Hour() && e.Minute() == t.Minute() && e.Day() == t.Day() {
		t = e
	}
	return t
}

// next is the first instant strictly after `after` at which the schedule
// fires, in loc, at latitude/longitude for sunrise and sunset. It is zero
// when there is none within a year and a bit (sunrise in the polar night
// on the only weekday chosen).
func (w when) next(after time.Time, loc *time.Location, lat, lon float64) time.Time {
	local := after.In(loc)
	// Start a day early: a negative offset or a sunset computed for the
	// previous local date may still lie after `after`.
	y, m, d := local.AddDate(0, 0, -1).Date()
	for i := 0; i < 400; i++ {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, loc)
		if !w.onDay(day.Weekday()) {
			continue
		}
		var t time.Time
		if w.sun == "" {
			t = wallTime(day.Year(), day.Month(), day.Day(), w.hour, w.minute, loc)
		} else {
			rise, set := sunrise.SunriseSunset(lat, lon, day.Year(), day.Month(), day.Day())
			t = rise
			if w.sun == "sunset" {
				t = set
			}
			if t.IsZero() || t.Year() < 1900 {
				continue // the sun neither rises nor sets that day
			}
		}
		t = t.Add(w.offset)
		if t.After(after) {
			return t
		}
	}
	return time.Time{}
}
