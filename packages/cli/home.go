package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
)

// homeCommands are home automation's commands (issue 11), through oepcd's
// proxy to homed.
func homeCommands() map[string]Command {
	return map[string]Command{
		"home ls":       {"home ls [--json]", "devices by room, with the state their modem confirmed", cmdHomeLs},
		"home on":       {"home on DEVICE [--json]", "switch a device on (waits for its ACK)", cmdHomeSwitch("on")},
		"home off":      {"home off DEVICE [--json]", "switch a device off", cmdHomeSwitch("off")},
		"home dim":      {"home dim DEVICE LEVEL [--json]", "dim a device to LEVEL (0-255, or 0%-100%)", cmdHomeDim},
		"home status":   {"home status DEVICE [--json]", "ask a device its level", cmdHomeSwitch("status")},
		"home add":      {"home add DEVICE --protocol insteon|x10 --address ADDR [--kind lamp] [--room ROOM] [--port DEV] [--json]", "add or change a device", cmdHomeAdd},
		"home rm":       {"home rm DEVICE", "remove a device", cmdHomeRm},
		"home scene":    {"home scene [ls|on NAME|off NAME|add NAME --members DEV=LEVEL,... [--group N] [--trigger DEV:BUTTON]|rm NAME] [--json]", "list, fire, add or remove scenes", cmdHomeScene},
		"home schedule": {"home schedule [ls|add NAME --at HH:MM|sunrise|sunset [--offset MIN] [--days mon,tue] --scene S|--device D --action on|off|dim [--level N]|rm NAME] [--json]", "list, add or remove schedules", cmdHomeSchedule},
		"home settings": {"home settings [--tz ZONE] [--lat DEG --lon DEG] [--json]", "the home's time zone and place (for sunrise and sunset)", cmdHomeSettings},
		"home modems":   {"home modems [--json]", "the power-line modems and whether each is plugged in", cmdHomeModems},
		"home watch":    {"home watch [--json]", "print device events as they happen (Ctrl-C ends)", cmdHomeWatch},
	}
}

func homeClient(c *Ctx) *homeapi.Client {
	return homeapi.New(c.API.Base, c.API.Token, c.API.HTTP)
}

func jsonFlag(p *bool) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) { fs.BoolVar(p, "json", false, "") }
}

func stateText(s homeapi.State) string {
	switch s.State {
	case homeapi.StateOn:
		if s.Level < 255 {
			return fmt.Sprintf("on %d%%", (s.Level*100+127)/255)
		}
		return "on"
	case homeapi.StateError:
		return "error: " + s.Error
	}
	return s.State
}

func cmdHomeLs(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	pos, err := flags("home ls", args, jsonFlag(&asJSON))
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return Usagef("no arguments expected")
	}
	ds, err := homeClient(c).Devices(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, ds)
	}
	if len(ds) == 0 {
		fmt.Fprintln(c.Stdout, "no devices yet: oepc home add NAME --protocol insteon --address 1A.2B.3C")
		return nil
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ROOM\tDEVICE\tKIND\tADDRESS\tSTATE")
	for _, d := range ds {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s %s\t%s\n", d.Room, d.Name, d.Kind, d.Protocol, d.Address, stateText(d.State))
	}
	return w.Flush()
}

func printDevice(c *Ctx, d homeapi.Device, asJSON bool) error {
	if asJSON {
		return printJSON(c.Stdout, d)
	}
	fmt.Fprintf(c.Stdout, "%s: %s\n", d.Name, stateText(d.State))
	return nil
}

func cmdHomeSwitch(op string) func(context.Context, *Ctx, []string) error {
	return func(ctx context.Context, c *Ctx, args []string) error {
		var asJSON bool
		pos, err := flags("home "+op, args, jsonFlag(&asJSON))
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return Usagef("give one device name (oepc home ls lists them)")
		}
		hc := homeClient(c)
		var d homeapi.Device
		switch op {
		case "on":
			d, err = hc.On(ctx, pos[0])
		case "off":
			d, err = hc.Off(ctx, pos[0])
		default:
			d, err = hc.Status(ctx, pos[0])
		}
		if err != nil {
			return err
		}
		return printDevice(c, d, asJSON)
	}
}

// parseLevel reads 0-255 or a percentage.
func parseLevel(s string) (int, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 100 {
			return 0, Usagef("level %q: use 0%%-100%% or 0-255", s)
		}
		return (v*255 + 50) / 100, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 255 {
		return 0, Usagef("level %q: use 0-255 or 0%%-100%%", s)
	}
	return v, nil
}

func cmdHomeDim(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	pos, err := flags("home dim", args, jsonFlag(&asJSON))
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return Usagef("give a device and a level")
	}
	l, err := parseLevel(pos[1])
	if err != nil {
		return err
	}
	d, err := homeClient(c).Dim(ctx, pos[0], l)
	if err != nil {
		return err
	}
	return printDevice(c, d, asJSON)
}

func cmdHomeAdd(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	d := homeapi.Device{Kind: homeapi.KindLamp}
	pos, err := flags("home add", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "")
		fs.StringVar(&d.Protocol, "protocol", "", "")
		fs.StringVar(&d.Address, "address", "", "")
		fs.StringVar(&d.Kind, "kind", d.Kind, "")
		fs.StringVar(&d.Room, "room", "", "")
		fs.StringVar(&d.Port, "port", "", "")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 || d.Protocol == "" || d.Address == "" {
		return Usagef("give a device name, --protocol and --address")
	}
	d.Name = pos[0]
	d, err = homeClient(c).PutDevice(ctx, d)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, d)
	}
	fmt.Fprintf(c.Stdout, "%s: %s %s at %s %s\n", d.Name, d.Kind, firstNonEmpty(d.Room, "(no room)"), d.Protocol, d.Address)
	return nil
}

func cmdHomeRm(ctx context.Context, c *Ctx, args []string) error {
	pos, err := flags("home rm", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return Usagef("give one device name")
	}
	return homeClient(c).DeleteDevice(ctx, pos[0])
}

func cmdHomeScene(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	var members, triggers string
	var group int
	pos, err := flags("home scene", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "")
		fs.StringVar(&members, "members", "", "")
		fs.StringVar(&triggers, "trigger", "", "")
		fs.IntVar(&group, "group", 0, "")
	})
	if err != nil {
		return err
	}
	hc := homeClient(c)
	sub := "ls"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	switch sub {
	case "ls":
		ss, err := hc.Scenes(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.Stdout, ss)
		}
		w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SCENE\tGROUP\tMEMBERS\tTRIGGERS")
		for _, s := range ss {
			var ms, ts []string
			for _, m := range s.Members {
				ms = append(ms, fmt.Sprintf("%s=%d", m.Device, m.Level))
			}
			for _, t := range s.Triggers {
				ts = append(ts, fmt.Sprintf("%s:%d", t.Device, t.Group))
			}
			g := "-"
			if s.Group > 0 {
				g = strconv.Itoa(s.Group)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Name, g, strings.Join(ms, ","), strings.Join(ts, ","))
		}
		return w.Flush()
	case "on", "off":
		if len(pos) != 1 {
			return Usagef("give one scene name")
		}
		ds, err := hc.FireScene(ctx, pos[0], sub == "on")
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.Stdout, ds)
		}
		for _, d := range ds {
			fmt.Fprintf(c.Stdout, "%s: %s\n", d.Name, stateText(d.State))
		}
		return nil
	case "add":
		if len(pos) != 1 || members == "" {
			return Usagef("give a scene name and --members DEV=LEVEL,...")
		}
		s := homeapi.Scene{Name: pos[0], Group: group}
		for _, m := range strings.Split(members, ",") {
			dev, lv, ok := strings.Cut(m, "=")
			l := 255
			if ok {
				if l, err = parseLevel(lv); err != nil {
					return err
				}
			}
			s.Members = append(s.Members, homeapi.SceneMember{Device: strings.TrimSpace(dev), Level: l})
		}
		if triggers != "" {
			for _, t := range strings.Split(triggers, ",") {
				dev, b, ok := strings.Cut(t, ":")
				n, err := strconv.Atoi(b)
				if !ok || err != nil {
					return Usagef("trigger %q: write DEVICE:BUTTON, e.g. Keypad:3", t)
				}
				s.Triggers = append(s.Triggers, homeapi.Trigger{Device: dev, Group: n})
			}
		}
		s, err := hc.PutScene(ctx, s)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.Stdout, s)
		}
		fmt.Fprintf(c.Stdout, "scene %s: %d members\n", s.Name, len(s.Members))
		return nil
	case "rm":
		if len(pos) != 1 {
			return Usagef("give one scene name")
		}
		return hc.DeleteScene(ctx, pos[0])
	}
	return Usagef("unknown scene command %q: use ls, on, off, add or rm", sub)
}

func cmdHomeSchedule(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	var s homeapi.Schedule
	var days string
	pos, err := flags("home schedule", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "")
		fs.StringVar(&s.At, "at", "", "")
		fs.IntVar(&s.Offset, "offset", 0, "")
		fs.StringVar(&days, "days", "", "")
		fs.StringVar(&s.Scene, "scene", "", "")
		fs.StringVar(&s.Device, "device", "", "")
		fs.StringVar(&s.Action, "action", "on", "")
		fs.IntVar(&s.Level, "level", 0, "")
	})
	if err != nil {
		return err
	}
	hc := homeClient(c)
	sub := "ls"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	switch sub {
	case "ls":
		ss, err := hc.Schedules(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.Stdout, ss)
		}
		w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SCHEDULE\tWHEN\tDAYS\tDOES\tNEXT")
		for _, s := range ss {
			when := s.At
			if s.Offset != 0 {
				when += fmt.Sprintf("%+dm", s.Offset)
			}
			what := "scene " + s.Scene
			if s.Device != "" {
				what = s.Device
			}
			what += " " + s.Action
			if s.Action == homeapi.ActionDim {
				what += " " + strconv.Itoa(s.Level)
			}
			next := "(clock not set)"
			if !s.Next.IsZero() {
				next = s.Next.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Name, when, firstNonEmpty(strings.Join(s.Weekdays, ","), "every day"), what, next)
		}
		return w.Flush()
	case "add":
		if len(pos) != 1 || s.At == "" {
			return Usagef("give a schedule name and --at")
		}
		s.Name = pos[0]
		if days != "" {
			s.Weekdays = strings.Split(days, ",")
		}
		s, err := hc.PutSchedule(ctx, s)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.Stdout, s)
		}
		next := "once the clock is set"
		if !s.Next.IsZero() {
			next = s.Next.Format(time.RFC3339)
		}
		fmt.Fprintf(c.Stdout, "schedule %s: next %s\n", s.Name, next)
		return nil
	case "rm":
		if len(pos) != 1 {
			return Usagef("give one schedule name")
		}
		return hc.DeleteSchedule(ctx, pos[0])
	}
	return Usagef("unknown schedule command %q: use ls, add or rm", sub)
}

func cmdHomeSettings(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	var tz string
	var lat, lon float64
	pos, err := flags("home settings", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "")
		fs.StringVar(&tz, "tz", "", "")
		fs.Float64Var(&lat, "lat", 0, "")
		fs.Float64Var(&lon, "lon", 0, "")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return Usagef("no arguments expected")
	}
	hc := homeClient(c)
	s, err := hc.Settings(ctx)
	if err != nil {
		return err
	}
	// Change only what was given.
	changed := false
	for _, a := range args {
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		switch name {
		case "tz":
			s.TimeZone, changed = tz, true
		case "lat":
			s.Latitude, changed = lat, true
		case "lon":
			s.Longitude, changed = lon, true
		}
	}
	if changed {
		if s, err = hc.PutSettings(ctx, s); err != nil {
			return err
		}
	}
	if asJSON {
		return printJSON(c.Stdout, s)
	}
	fmt.Fprintf(c.Stdout, "time zone %s, latitude %g, longitude %g\n", s.TimeZone, s.Latitude, s.Longitude)
	return nil
}

func cmdHomeModems(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("home modems", args, jsonFlag(&asJSON)); err != nil {
		return err
	}
	ms, err := homeClient(c).Modems(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, ms)
	}
	if len(ms) == 0 {
		fmt.Fprintln(c.Stdout, "no modem configured (homed --modem insteon:/dev/ttyUSB0)")
	}
	for _, m := range ms {
		st := "present"
		if !m.Present {
			st = "missing: " + m.Error
		}
		fmt.Fprintf(c.Stdout, "%s %s: %s\n", m.Protocol, m.Port, st)
	}
	return nil
}

func cmdHomeWatch(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("home watch", args, jsonFlag(&asJSON)); err != nil {
		return err
	}
	err := homeClient(c).Events(ctx, func(e homeapi.Event) error {
		if asJSON {
			return printJSON(c.Stdout, e)
		}
		line := e.Time.Format("15:04:05") + " " + e.Kind
		switch {
		case e.Kind == homeapi.EventState && e.State != nil:
			line += " " + e.Device + ": " + stateText(*e.State)
		case e.Kind == homeapi.EventScene:
			line += fmt.Sprintf(" %s on=%v", e.Scene, e.On)
		case e.Kind == homeapi.EventButton:
			line += fmt.Sprintf(" %s button %d", e.Device, e.Group)
		case e.Kind == homeapi.EventSchedule:
			line += " " + e.Schedule
		}
		if e.Source != "" {
			line += " (" + e.Source + ")"
		}
		if e.Error != "" {
			line += " error: " + e.Error
		}
		_, err := fmt.Fprintln(c.Stdout, line)
		return err
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
