package webui

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"oepc.dev/oepcos/packages/home/homeapi"
)

// The Home page: homed's rooms and devices as big buttons (a phone, one
// hand), dimmer sliders, scenes and schedules, and for the owner the
// Phones part (phones.go). Everything goes through homed's API under
// /v1/home/ (oepcd proxies it): the forms post to /home and the page
// calls the API in-process; with JavaScript (static/home.js) a button
// calls the API from the browser and shows "pending" at once, and the
// states homed publishes (a switch pressed by hand too) arrive over the
// tab's event stream as "home" events (packages/box follows homed's
// stream).
//
// A household member sees only this page. Members may switch, dim and ask
// devices and fire scenes; adding or removing schedules, pairing phones
// and everything else is the owner's.

func homePage() Page {
	return Page{Path: "/home", Title: "Home", Nav: "Home", Role: RoleMember, Template: "home.html",
		Live: []string{"home", "phones"}, Load: loadHome, Actions: homeActions()}
}

// memberHomeRoute says whether a household member's session may call the
// local API route method path: reading homed's lists and events, commands
// to devices, firing scenes. Names cannot hold "/", so a path with more
// segments than the route is refused.
func memberHomeRoute(method, path string) bool {
	rest, ok := strings.CutPrefix(path, homeapi.Prefix)
	if !ok {
		return false
	}
	seg := strings.Split(rest, "/")
	switch method {
	case http.MethodGet:
		switch {
		case len(seg) == 1:
			return slices.Contains([]string{"devices", "scenes", "schedules", "events", "modems", "settings"}, seg[0])
		case len(seg) == 2:
			return seg[0] == "devices" && seg[1] != ""
		}
	case http.MethodPost:
		if len(seg) != 3 || seg[1] == "" {
			return false
		}
		switch seg[0] {
		case "devices":
			return slices.Contains([]string{"on", "off", "dim", "status"}, seg[2])
		case "scenes":
			return seg[2] == "on" || seg[2] == "off"
		}
	}
	return false
}

// eventAllowed says which live events a session's tab gets: a household
// member only the home's (and the stream's own).
func eventAllowed(role Role, kind string) bool {
	if role.Allows(RoleOwner) {
		return true
	}
	switch kind {
	case "home", "ping", "resync":
		return true
	}
	return false
}

type homeDevice struct {
	homeapi.Device
	ID       string // for element IDs
	Dimmable bool
	Pct      int // the level in percent
	On       bool
	Text     string // the state as shown
}

type homeRoom struct {
	Name    string
	Devices []homeDevice
}

type homeData struct {
	// Missing says why the box has no home automation (homed not set up
	// or not answering); the rest is empty then.
	Missing   string
	Rooms     []homeRoom
	Scenes    []homeapi.Scene
	Schedules []homeapi.Schedule
	Devices   []homeapi.Device
	Owner     bool
	Phones    []Session
	Pairing   *pairingView
	Weekdays  []string
	ThisPhone string
}

func pct(level int) int { return (level*100 + 127) / 255 }

// stateText is a device state as the page shows it (static/home.js says
// the same).
func stateText(st homeapi.State) string {
	switch st.State {
	case homeapi.StateOn:
		if st.Level > 0 && st.Level < 255 {
			return fmt.Sprintf("On · %d%%", pct(st.Level))
		}
		return "On"
	case homeapi.StateOff:
		return "Off"
	case homeapi.StatePending:
		return "Waiting for the device…"
	case homeapi.StateError:
		return "No answer: " + st.Error
	}
	return "Unknown: press to switch"
}

func loadHome(c *Ctx) (any, error) {
	d := homeData{Owner: c.Session.Role.Allows(RoleOwner), Weekdays: homeapi.Weekdays}
	if c.Session.Phone {
		d.ThisPhone = c.Session.ID
	}
	if d.Owner {
		d.Phones = c.ui.phoneSessions()
		pv, err := c.ui.openPairing(c.R)
		if err != nil {
			return d, err
		}
		d.Pairing = pv
	}
	if err := c.API("GET", homeapi.Prefix+"devices", nil, &d.Devices); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusServiceUnavailable) {
			d.Missing = "Home automation is not available on this box: " + ae.Message
			if ae.Status == http.StatusNotFound {
				d.Missing = "This box has no home automation: homed is not set up (oepcd --homed-socket)."
			}
			return d, nil
		}
		return d, err
	}
	byRoom := map[string]*homeRoom{}
	var order []string
	for i, dev := range d.Devices {
		room := dev.Room
		if room == "" {
			room = "Other"
		}
		r := byRoom[room]
		if r == nil {
			r = &homeRoom{Name: room}
			byRoom[room] = r
			order = append(order, room)
		}
		r.Devices = append(r.Devices, homeDevice{Device: dev, ID: "d" + strconv.Itoa(i), Dimmable: homeapi.Dimmable(dev.Kind),
			Pct: pct(dev.State.Level), On: dev.State.State == homeapi.StateOn, Text: stateText(dev.State)})
	}
	for _, name := range order {
		d.Rooms = append(d.Rooms, *byRoom[name])
	}
	err1 := c.API("GET", homeapi.Prefix+"scenes", nil, &d.Scenes)
	err2 := c.API("GET", homeapi.Prefix+"schedules", nil, &d.Schedules)
	return d, errors.Join(err1, err2)
}

func deviceName(c *Ctx) (string, error) {
	v, err := c.Need("device", "The device")
	if err != nil {
		return "", err
	}
	if err := homeapi.ValidName("device", v[0]); err != nil {
		return "", &UserError{Status: http.StatusBadRequest, Msg: err.Error()}
	}
	return v[0], nil
}

func homeActions() map[string]Action {
	acts := map[string]Action{
		"switch": func(c *Ctx) (string, error) {
			name, err := deviceName(c)
			if err != nil {
				return "", err
			}
			to := c.Form("to")
			if to != "on" && to != "off" {
				return "", &UserError{Status: http.StatusBadRequest, Msg: "Switch a device on or off; nothing was changed."}
			}
			var d homeapi.Device
			if err := c.API("POST", homeapi.Prefix+"devices/"+url.PathEscape(name)+"/"+to, nil, &d); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: %s.", d.Name, strings.ToLower(stateText(d.State))), nil
		},
		"dim": func(c *Ctx) (string, error) {
			name, err := deviceName(c)
			if err != nil {
				return "", err
			}
			p, err := strconv.Atoi(c.Form("level"))
			if err != nil || p < 0 || p > 100 {
				return "", &UserError{Status: http.StatusBadRequest, Msg: "The brightness is a percentage from 0 to 100; nothing was changed."}
			}
			var d homeapi.Device
			if err := c.API("POST", homeapi.Prefix+"devices/"+url.PathEscape(name)+"/dim", homeapi.DimRequest{Level: (p*255 + 50) / 100}, &d); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: %s.", d.Name, strings.ToLower(stateText(d.State))), nil
		},
		"scene": func(c *Ctx) (string, error) {
			v, err := c.Need("scene", "The scene")
			if err != nil {
				return "", err
			}
			to := c.Form("to")
			if to != "on" && to != "off" {
				return "", &UserError{Status: http.StatusBadRequest, Msg: "Fire a scene on or off; nothing was changed."}
			}
			if err := c.API("POST", homeapi.Prefix+"scenes/"+url.PathEscape(v[0])+"/"+to, nil, nil); err != nil {
				return "", fmt.Errorf("scene %s did not fully switch: %w", v[0], err)
			}
			return fmt.Sprintf("Scene %s is %s.", v[0], to), nil
		},
		"schedule-add":    ownerAction(addSchedule),
		"schedule-remove": ownerAction(removeSchedule),
	}
	maps.Copy(acts, phoneActions)
	return acts
}

func addSchedule(c *Ctx) (string, error) {
	v, err := c.Need("name", "The schedule's name", "target", "What it switches")
	if err != nil {
		return "", err
	}
	// The field is not called "action": it would shadow the form's action.
	s := homeapi.Schedule{Name: v[0], Action: c.Form("op")}
	if err := homeapi.ValidName("schedule", s.Name); err != nil {
		return "", &UserError{Status: http.StatusBadRequest, Msg: err.Error()}
	}
	switch when := c.Form("when"); when {
	case "sunrise", "sunset":
		s.At = when
	case "time", "":
		if s.At = c.Form("time"); s.At == "" {
			return "", &UserError{Status: http.StatusBadRequest, Msg: "The time of day is missing: pick one, or choose sunrise or sunset."}
		}
	default:
		return "", &UserError{Status: http.StatusBadRequest, Msg: "Choose a time of day, sunrise or sunset."}
	}
	if o := c.Form("offset"); o != "" {
		if s.Offset, err = strconv.Atoi(o); err != nil || s.Offset < -720 || s.Offset > 720 {
			return "", &UserError{Status: http.StatusBadRequest, Msg: "The offset is a number of minutes between -720 and 720."}
		}
	}
	for _, w := range c.R.PostForm["weekday"] {
		if _, err := homeapi.ParseWeekday(w); err != nil {
			return "", &UserError{Status: http.StatusBadRequest, Msg: err.Error()}
		}
		s.Weekdays = append(s.Weekdays, w)
	}
	kind, name, _ := strings.Cut(v[1], ":")
	switch kind {
	case "scene":
		s.Scene = name
	case "device":
		s.Device = name
	default:
		return "", &UserError{Status: http.StatusBadRequest, Msg: "Choose a scene or a device for the schedule to switch."}
	}
	if s.Action == homeapi.ActionDim {
		p, err := strconv.Atoi(c.Form("level"))
		if err != nil || p < 1 || p > 100 {
			return "", &UserError{Status: http.StatusBadRequest, Msg: "Dim to a brightness from 1 to 100%."}
		}
		s.Level = (p*255 + 50) / 100
	}
	var out homeapi.Schedule
	if err := c.API("PUT", homeapi.Prefix+"schedules/"+url.PathEscape(s.Name), s, &out); err != nil {
		return "", fmt.Errorf("the schedule was not added: %w", err)
	}
	return fmt.Sprintf("Schedule %s added.", s.Name), nil
}

func removeSchedule(c *Ctx) (string, error) {
	v, err := c.Need("name", "The schedule")
	if err != nil {
		return "", err
	}
	if err := c.API("DELETE", homeapi.Prefix+"schedules/"+url.PathEscape(v[0]), nil, nil); err != nil {
		return "", err
	}
	return fmt.Sprintf("Schedule %s removed.", v[0]), nil
}

func init() {
	// The level (0-255) in percent, for the templates.
	funcs["pctl"] = pct
}
