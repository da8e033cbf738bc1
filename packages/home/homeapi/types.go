// Package homeapi is homed's local HTTP/JSON API as types and a client:
// what oepcd, the oepc command line and the web UI need of homed, without
// badger or the modem drivers. The routes are under /v1/home/ on homed's
// unix socket; oepcd serves the same paths by proxying them.
package homeapi

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Prefix is the path every route of the API starts with.
const Prefix = "/v1/home/"

// DefaultSocket is where homed serves this API on the box; oepcd proxies
// Prefix to it.
const DefaultSocket = "/run/oepc/homed.sock"

// Device kinds.
const (
	KindLamp      = "lamp"      // a plug-in lamp module, dimmable
	KindDimmer    = "dimmer"    // a wall dimmer
	KindSwitch    = "switch"    // an on/off wall switch or relay
	KindAppliance = "appliance" // an on/off appliance module
	KindKeypad    = "keypad"    // a keypad: its buttons fire scenes
)

// Kinds lists the valid device kinds.
var Kinds = []string{KindLamp, KindDimmer, KindSwitch, KindAppliance, KindKeypad}

// Dimmable says whether a kind takes a level between off and on.
func Dimmable(kind string) bool {
	return kind == KindLamp || kind == KindDimmer || kind == KindKeypad
}

// Device states as the modem confirmed them.
const (
	StateUnknown = "unknown" // nothing confirmed yet (or since a restart during a command)
	StatePending = "pending" // a command is on the line; no ACK yet
	StateOn      = "on"
	StateOff     = "off"
	StateError   = "error" // the last command failed: Error says why
)

// State is a device's last confirmed state.
type State struct {
	State string `json:"state"`
	// Level 0-255; meaningful for on (255 or a dim level) and off (0).
	Level int `json:"level"`
	// Error is why the last command failed (State "error").
	Error   string    `json:"error,omitempty"`
	Updated time.Time `json:"updated"`
}

// Device is one appliance on the power line.
type Device struct {
	Name     string `json:"name"`
	Room     string `json:"room,omitempty"`
	Kind     string `json:"kind"`
	Protocol string `json:"protocol"` // "insteon" or "x10"
	Address  string `json:"address"`  // "1A.2B.3C" or "A1"
	// Port is the serial device of the modem to use; empty: the first
	// modem of the device's protocol.
	Port  string `json:"port,omitempty"`
	State State  `json:"state"`
}

// SceneMember is a device and the level a scene sets it to when fired on.
type SceneMember struct {
	Device string `json:"device"`
	Level  int    `json:"level"` // 0-255; 0 means off
}

// Trigger is a device button that fires a scene (a keypad button or a
// switch's paddle): its on fires the scene on, its off fires it off.
type Trigger struct {
	Device string `json:"device"`
	Group  int    `json:"group"` // the button (group) number, 1-255
}

// Scene is several devices at once.
type Scene struct {
	Name    string        `json:"name"`
	Members []SceneMember `json:"members"`
	// Group is the Insteon modem's ALL-Link group for this scene (1-255),
	// 0 for none: then the members are switched one by one. With a group
	// every member must be an Insteon device on one modem, linked as the
	// group's responder at its level.
	Group int `json:"group,omitempty"`
	// Triggers are the buttons that fire the scene by hand.
	Triggers []Trigger `json:"triggers,omitempty"`
	// Links is how far homed got linking each member into Group (filled
	// in by homed; what a client sends here is ignored). Members no longer
	// in the scene stay listed while their links are removed.
	Links []MemberLink `json:"links,omitempty"`
	// Removing: the scene was removed and homed is unlinking its members
	// first; it disappears when they are unlinked.
	Removing bool `json:"removing,omitempty"`
}

// Link states of a scene member (MemberLink.State).
const (
	LinkPending      = "pending"       // to be linked (or its level rewritten)
	LinkLinking      = "linking"       // on the line now
	LinkLinked       = "linked"        // a responder of the group at Level
	LinkFailed       = "failed"        // Error says why; POST .../link tries again
	LinkUnlinking    = "unlinking"     // no longer a member: its link is being removed
	LinkUnlinkFailed = "unlink-failed" // Error says why; POST .../link tries again
)

// MemberLink is one member's link into its scene's ALL-Link group: the
// modem's controller record and the device's responder record, whose
// on level is the member's level.
type MemberLink struct {
	Device  string `json:"device"`
	Address string `json:"address"`
	Port    string `json:"port,omitempty"` // the modem's serial device
	Group   int    `json:"group"`
	Level   int    `json:"level"`
	State   string `json:"state"`
	Error   string `json:"error,omitempty"`
	// Touched: homed has started to link it once, so the device or the
	// modem may hold a record of it (which removing it must undo).
	Touched bool      `json:"touched,omitempty"`
	Updated time.Time `json:"updated"`
}

// Done says whether homed has nothing more to do for this link, and
// whether that is success (Ok).
func (l MemberLink) Done() (done, ok bool) {
	switch l.State {
	case LinkLinked:
		return true, true
	case LinkFailed, LinkUnlinkFailed:
		return true, false
	}
	return false, false
}

// Schedule actions.
const (
	ActionOn  = "on"
	ActionOff = "off"
	ActionDim = "dim"
)

// Schedule fires a scene or switches a device at a time of day.
type Schedule struct {
	Name string `json:"name"`
	// At is a time of day "HH:MM" in the owner's time zone, or "sunrise" or
	// "sunset" (at the settings' latitude and longitude).
	At string `json:"at"`
	// Offset is added to At, in minutes (e.g. -30: half an hour before
	// sunset).
	Offset int `json:"offset,omitempty"`
	// Weekdays it fires on: "mon".."sun"; empty: every day.
	Weekdays []string `json:"weekdays,omitempty"`
	// Scene or Device: what it switches.
	Scene  string `json:"scene,omitempty"`
	Device string `json:"device,omitempty"`
	// Action: on or off (a scene or a device), dim (a device, to Level).
	Action string `json:"action"`
	Level  int    `json:"level,omitempty"`
	// Next is when it fires next (filled in by homed; zero while the clock
	// is not set).
	Next time.Time `json:"next,omitzero"`
	// Last is when it fired last.
	Last time.Time `json:"last,omitzero"`
}

// Settings are the owner's: where the home is, for its time zone and its
// sunrise and sunset.
type Settings struct {
	TimeZone  string  `json:"time_zone"` // IANA name, e.g. "Europe/Berlin"
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// Modem is one configured serial device and whether homed has it.
type Modem struct {
	Protocol string `json:"protocol"`
	Port     string `json:"port"`
	Present  bool   `json:"present"`
	Error    string `json:"error,omitempty"`
}

// Event kinds on the event stream.
const (
	EventState    = "state"    // a device's state changed (Device, State)
	EventScene    = "scene"    // a scene fired (Scene, On)
	EventButton   = "button"   // a button without a scene was pressed (Device, Group)
	EventSchedule = "schedule" // a schedule fired (Schedule, Error)
	EventLost     = "lost"     // the subscriber fell behind: events were dropped; reload
	EventLink     = "link"     // a scene member's link changed (Scene, Link)
)

// Event is one thing that happened, in order (Seq grows by one).
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Device   string    `json:"device,omitempty"`
	State    *State    `json:"state,omitempty"`
	Scene    string    `json:"scene,omitempty"`
	On       bool      `json:"on,omitempty"`
	Group    int       `json:"group,omitempty"`
	Schedule string    `json:"schedule,omitempty"`
	// Source: "api", "hand" (a device reported it), "schedule", "scene".
	Source string `json:"source,omitempty"`
	Error  string `json:"error,omitempty"`
	// Link: a scene member's link (EventLink).
	Link *MemberLink `json:"link,omitempty"`
}

// DimRequest is the body of POST .../devices/{name}/dim.
type DimRequest struct {
	Level int `json:"level"`
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
}

var nameRE = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,63}$`)

// ValidName checks a device, scene or schedule name: 1-64 letters, digits,
// spaces, dots, dashes and underscores, starting with a letter or digit.
func ValidName(what, name string) error {
	if !nameRE.MatchString(name) || strings.TrimSpace(name) != name {
		return fmt.Errorf("%s name %q: use 1-64 letters, digits, spaces, '.', '-' or '_', starting with a letter or digit", what, name)
	}
	return nil
}

// Weekdays are the spellings Schedule.Weekdays takes, Sunday first as
// time.Weekday counts.
var Weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWeekday reads "mon".."sun" (or the full English name).
func ParseWeekday(s string) (time.Weekday, error) {
	l := strings.ToLower(s)
	for i, w := range Weekdays {
		if l == w || l == strings.ToLower(time.Weekday(i).String()) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("weekday %q: use one of %s", s, strings.Join(Weekdays, ", "))
}
