package home

import (
	"testing"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
)

func mustWhen(t *testing.T, s homeapi.Schedule) when {
	t.Helper()
	w, err := parseWhen(s)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestNextAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name  string
		at    string
		loc   *time.Location
		after string
		want  []string // successive firings, UTC
	}{
		// 2026-03-08 02:00 EST -> 03:00 EDT in New York.
		{"07:00 across spring forward", "07:00", ny, "2026-03-07T00:00:00Z",
			[]string{"2026-03-07T12:00:00Z", "2026-03-08T11:00:00Z", "2026-03-09T11:00:00Z"}},
		// 02:30 does not exist on 2026-03-08: fires once, at 03:30 EDT.
		{"02:30 in the gap", "02:30", ny, "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"}},
		// 2026-11-01 02:00 EDT -> 01:00 EST.
		{"07:00 across fall back", "07:00", ny, "2026-10-31T00:00:00Z",
			[]string{"2026-10-31T11:00:00Z", "2026-11-01T12:00:00Z", "2026-11-02T12:00:00Z"}},
		// 01:30 happens twice on 2026-11-01: fires once, at the first.
		{"01:30 in the repeated hour", "01:30", ny, "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		// Europe: 2026-03-29 and 2026-10-25.
		{"Berlin spring", "06:15", berlin, "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T04:15:00Z", "2026-03-30T04:15:00Z"}},
		{"Berlin autumn 02:30 twice", "02:30", berlin, "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := mustWhen(t, homeapi.Schedule{Name: "s", At: c.at})
			after := utc(c.after)
			for i, ws := range c.want {
				got := w.next(after, c.loc, 0, 0)
				if !got.Equal(utc(ws)) {
					t.Fatalf("firing %d after %s: got %s (%s), want %s", i, after, got.UTC(), got, ws)
				}
				after = got
			}
		})
	}
}

func TestNextWeekdaysAndOffset(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	w := mustWhen(t, homeapi.Schedule{Name: "s", At: "08:00", Offset: -30, Weekdays: []string{"sat", "sunday"}})
	// Wednesday 2026-12-02 -> Saturday 2026-12-05 07:30 CET = 06:30Z.
	got := w.next(time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC), loc, 0, 0)
	if want := time.Date(2026, 12, 5, 6, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("got %s, want %s", got.UTC(), want)
	}
	got = w.next(got, loc, 0, 0)
	if want := time.Date(2026, 12, 6, 6, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("got %s, want %s", got.UTC(), want)
	}
}

func TestNextSun(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	// Berlin, 52.52 N 13.405 E. On 2026-06-21 the sun sets about 21:33 CEST
	// (19:33Z) and rises about 04:43 CEST (02:43Z).
	lat, lon := 52.52, 13.405
	set := mustWhen(t, homeapi.Schedule{Name: "s", At: "sunset", Offset: -30})
	got := set.next(time.Date(2026, 6, 21, 10, 0, 0, 0, time.UTC), loc, lat, lon)
	want := time.Date(2026, 6, 21, 19, 3, 0, 0, time.UTC)
	if d := got.Sub(want); d < -5*time.Minute || d > 5*time.Minute {
		t.Fatalf("sunset-30 on 2026-06-21: got %s, want about %s", got.UTC(), want)
	}
	rise := mustWhen(t, homeapi.Schedule{Name: "s", At: "sunrise"})
	got = rise.next(time.Date(2026, 6, 21, 10, 0, 0, 0, time.UTC), loc, lat, lon)
	want = time.Date(2026, 6, 22, 2, 43, 0, 0, time.UTC)
	if d := got.Sub(want); d < -5*time.Minute || d > 5*time.Minute {
		t.Fatalf("sunrise after 2026-06-21 10:00Z: got %s, want about %s", got.UTC(), want)
	}
	// Polar night in Longyearbyen (78.2 N): no sunrise for weeks, the next
	// one is found in February.
	got = rise.next(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.UTC, 78.22, 15.65)
	if got.IsZero() || got.Before(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) || got.After(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("first sunrise after the polar night: got %s, want in February 2027", got)
	}
}

func TestParseWhenErrors(t *testing.T) {
	for _, at := range []string{"", "7", "24:00", "12:60", "12:5", "noon", "-1:00", "12:00:00"} {
		if _, err := parseWhen(homeapi.Schedule{Name: "s", At: at}); err == nil {
			t.Errorf("at %q accepted", at)
		}
	}
	if _, err := parseWhen(homeapi.Schedule{Name: "s", At: "12:00", Offset: 721}); err == nil {
		t.Error("offset 721 accepted")
	}
	if _, err := parseWhen(homeapi.Schedule{Name: "s", At: "12:00", Weekdays: []string{"funday"}}); err == nil {
		t.Error("weekday funday accepted")
	}
}
