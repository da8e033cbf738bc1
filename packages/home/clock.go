package home

import "time"

// Clock is the time source of the scheduler and of device states. Tests
// inject one they move by hand (hometest.Clock).
type Clock interface {
	Now() time.Time
	// After is time.After: a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// ClockSetYear: a clock before this year has not been set yet (gokrazy
// boots at 1970 until NTP answers; the box has no RTC battery on every
// board). Schedules wait for it.
const ClockSetYear = 2025
