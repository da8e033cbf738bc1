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
		"home scene":    {"home scene [ls|on NAME|off NAME|add NAME --members DEV=LEVEL,... [--group N] [--trigger DEV:BUTTON]|link NAME|rm NAME [--force]] [--wait DUR] [--json]", "list, fire, add or remove scenes; with --group homed links the members into the modem's ALL-Link group (link retries)", cmdHomeScene},
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
	var force bool
	wait := 5 * time.Minute
	pos, err := flags("home scene", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "")
		fs.BoolVar(&force, "force", false, "")
		fs.DurationVar(&wait, "wait", wait, "")
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
		fmt.Fprintln(w, "SCENE\tGROUP\tMEMBERS\tTRIGGERS\tLINKS")
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
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Name, g, strings.Join(ms, ","), strings.Join(ts, ","), linksText(s))
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
		if !asJSON {
			fmt.Fprintf(c.Stdout, "scene %s: %d members\n", s.Name, len(s.Members))
		}
		if len(s.Links) == 0 {
			if asJSON {
				return printJSON(c.Stdout, s)
			}
			return nil
		}
		return waitSceneLinks(ctx, c, hc, s, wait, asJSON, "saved")
	case "link":
		if len(pos) != 1 {
			return Usagef("give one scene name")
		}
		s, err := hc.LinkScene(ctx, pos[0])
		if err != nil {
			return err
		}
		return waitSceneLinks(ctx, c, hc, s, wait, asJSON, "saved")
	case "rm":
		if len(pos) != 1 {
			return Usagef("give one scene name")
		}
		s, err := hc.RemoveScene(ctx, pos[0], force)
		if err != nil || s == nil {
			return err
		}
		if !asJSON {
			fmt.Fprintf(c.Stdout, "scene %s: unlinking its members from group %d first\n", s.Name, s.Group)
		}
		return waitSceneLinks(ctx, c, hc, *s, wait, asJSON, "not removed")
	}
	return Usagef("unknown scene command %q: use ls, on, off, add, link or rm", sub)
}

// linksText sums up a scene's links for scene ls.
func linksText(s homeapi.Scene) string {
	if len(s.Links) == 0 {
		return "-"
	}
	linked, members := 0, 0
	var other []string
	for _, l := range s.Links {
		if l.State != homeapi.LinkUnlinking && l.State != homeapi.LinkUnlinkFailed {
			members++
		}
		if l.State == homeapi.LinkLinked {
			linked++
		} else {
			other = append(other, l.Device+" "+l.State)
		}
	}
	t := fmt.Sprintf("%d/%d linked", linked, members)
	if s.Removing {
		t = "removing"
	}
	if len(other) > 0 {
		t += " (" + strings.Join(other, ", ") + ")"
	}
	return t
}

// waitSceneLinks follows homed linking (or unlinking) a scene's members,
// printing each member's step, until nothing is left to do or wait runs
// out. A member not linked is an error naming it, its reason and the
// retry.
func waitSceneLinks(ctx context.Context, c *Ctx, hc *homeapi.Client, s homeapi.Scene, wait time.Duration, asJSON bool, what string) error {
	name := s.Name
	seen := map[string]string{}
	show := func(s homeapi.Scene) {
		for _, l := range s.Links {
			key := l.Device + "/" + strconv.Itoa(l.Group)
			if seen[key] == l.State || asJSON {
				seen[key] = l.State
				continue
			}
			seen[key] = l.State
			switch l.State {
			case homeapi.LinkLinked:
				fmt.Fprintf(c.Stdout, "  %s: linked to group %d at level %d\n", l.Device, l.Group, l.Level)
			case homeapi.LinkFailed, homeapi.LinkUnlinkFailed:
				fmt.Fprintf(c.Stdout, "  %s: %s: %s\n", l.Device, l.State, l.Error)
			default:
				fmt.Fprintf(c.Stdout, "  %s: %s\n", l.Device, l.State)
			}
		}
	}
	show(s)
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		// A removed scene is done when it is gone, or when every link
		// left failed.
		done := !s.Removing || len(s.Links) > 0
		for _, l := range s.Links {
			if d, _ := l.Done(); !d {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scene %s: homed is still linking its members after %s (oepc home scene ls shows how far it got)", name, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		ss, err := hc.Scenes(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, x := range ss {
			if x.Name == name {
				s, found = x, true
			}
		}
		if !found {
			if !asJSON {
				fmt.Fprintf(c.Stdout, "scene %s: removed, its members unlinked\n", name)
			}
			return nil
		}
		show(s)
	}
	if asJSON {
		if err := printJSON(c.Stdout, s); err != nil {
			return err
		}
	}
	var bad []string
	for _, l := range s.Links {
		if _, ok := l.Done(); !ok {
			bad = append(bad, fmt.Sprintf("%s (%s)", l.Device, l.Error))
		}
	}
	if len(bad) > 0 && s.Removing {
		return fmt.Errorf("scene %s not removed: not every member could be unlinked: %s; run `oepc home scene rm %s` again when they answer, or add --force to remove it and leave their links", name, strings.Join(bad, "; "), name)
	}
	if len(bad) > 0 {
		return fmt.Errorf("scene %s %s, but not every member is linked: %s; then run `oepc home scene link %s` to try again", name, what, strings.Join(bad, "; "), name)
	}
	if !asJSON && len(s.Links) > 0 {
		fmt.Fprintf(c.Stdout, "scene %s: %s\n", name, linksText(s))
	}
	return nil
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
