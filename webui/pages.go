package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"oepc.dev/oepcos/packages/apitype"
)

// The pages read the local API's answers as packages/apitype's types,
// the ones the CLI and the tests use.

type invite struct {
	apitype.Invite
	QR template.HTML
}

func corePages() []Page {
	return append(filesPages(), []Page{
		{Path: "/friends", Title: "Friends", Nav: "Friends", Role: RoleOwner, Template: "friends.html", Live: []string{"friends"}, Load: loadFriends, Actions: friendActions},
		walletPage(),
		{Path: "/network", Title: "Network", Nav: "Network", Role: RoleOwner, Template: "network.html", Live: []string{"friends"}, Load: loadNetwork},
		{Path: "/system", Title: "System", Nav: "System", Role: RoleOwner, Template: "system.html", Live: []string{"health"}, Load: loadSystem, Actions: systemActions},
	}...)
}

// System page.

type storage struct {
	Path              string
	Total, Free, Used int64
	UsedRatio         float64
	Err               string
}

type systemData struct {
	Status      apitype.Status
	Health      apitype.HealthAnswer
	Storage     storage
	Sessions    []Session
	Fingerprint string
	Logs        []LogLine
	CanReboot   bool
	ThisSession string
	OTA         otaView
}

func statfs(dir string) storage {
	st := storage{Path: dir}
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		st.Err = err.Error()
		return st
	}
	st.Total = int64(s.Blocks) * int64(s.Bsize)
	st.Free = int64(s.Bavail) * int64(s.Bsize)
	st.Used = st.Total - int64(s.Bfree)*int64(s.Bsize)
	if st.Total > 0 {
		st.UsedRatio = float64(st.Used) / float64(st.Total)
	}
	return st
}

func loadSystem(c *Ctx) (any, error) {
	u := c.ui
	d := systemData{Fingerprint: u.fingerprint, Storage: statfs(u.cfg.StorageDir), Sessions: u.auth.Sessions(),
		CanReboot: u.cfg.Reboot != nil, ThisSession: c.Session.ID, OTA: u.otaView()}
	if u.cfg.Logs != nil {
		lines := u.cfg.Logs.Lines()
		if len(lines) > 100 {
			lines = lines[len(lines)-100:]
		}
		// Newest first.
		for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
			lines[i], lines[j] = lines[j], lines[i]
		}
		d.Logs = lines
	}
	err1 := c.API("GET", "/v1/status", nil, &d.Status)
	err2 := c.API("GET", "/v1/health", nil, &d.Health)
	if err1 != nil {
		return d, err1
	}
	return d, err2
}

var systemActions = map[string]Action{
	"signout-session": func(c *Ctx) (string, error) {
		v, err := c.Need("session", "The session")
		if err != nil {
			return "", err
		}
		if err := c.ui.auth.EndSession(v[0]); err != nil {
			return "", &UserError{Status: http.StatusNotFound, Msg: err.Error()}
		}
		if v[0] == c.Session.ID {
			c.ui.setSessionCookie(c.W, c.R, "", -1)
		}
		c.ui.log.Info("web UI: session signed out from the System page", "session", v[0])
		return "The session was signed out.", nil
	},
	"reboot": func(c *Ctx) (string, error) {
		if c.ui.cfg.Reboot == nil {
			return "", &UserError{Status: http.StatusNotImplemented, Msg: "This box cannot be rebooted from here (it is not running on its own hardware, e.g. the devnet)."}
		}
		if c.Form("confirm") != "yes" {
			return "", &UserError{Status: http.StatusBadRequest, Msg: "Tick “Yes, reboot” to confirm the reboot."}
		}
		c.ui.log.Warn("web UI: reboot asked for", "client", clientAddr(c.R))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.ui.cfg.Reboot(ctx); err != nil {
			return "", err
		}
		return "The box is rebooting. This page comes back in about a minute.", nil
	},
}

// Network page.

type networkData struct {
	Status  apitype.Status
	Friends map[string]string // peer ID → friend name
	Relayed int
	Direct  int
}

func loadNetwork(c *Ctx) (any, error) {
	var d networkData
	if err := c.API("GET", "/v1/status", nil, &d.Status); err != nil {
		return d, err
	}
	d.Friends = map[string]string{}
	for _, f := range d.Status.Friends {
		d.Friends[f.ID.String()] = f.Name
	}
	sort.Slice(d.Status.Network.Peers, func(i, j int) bool {
		return d.Status.Network.Peers[i].ID < d.Status.Network.Peers[j].ID
	})
	return d, nil
}

// Friends page.

type friendsData struct {
	Friends []apitype.FriendStatus
	Online  int
}

func loadFriends(c *Ctx) (any, error) {
	var d friendsData
	if err := c.API("GET", "/v1/friends", nil, &d.Friends); err != nil {
		return d, err
	}
	sort.Slice(d.Friends, func(i, j int) bool { return strings.ToLower(d.Friends[i].Name) < strings.ToLower(d.Friends[j].Name) })
	for _, f := range d.Friends {
		if f.Connected {
			d.Online++
		}
	}
	return d, nil
}

// friendPath is the API path of a friend; the ID is escaped, so no ID can
// reach another route.
func friendPath(c *Ctx) (string, error) {
	v, err := c.Need("id", "The friend")
	if err != nil {
		return "", err
	}
	return "/v1/friends/" + url.PathEscape(v[0]), nil
}

var friendActions = map[string]Action{
	"invite": func(c *Ctx) (string, error) {
		var inv invite
		if err := c.API("POST", "/v1/friends/invite", map[string]string{}, &inv); err != nil {
			return "", err
		}
		qr, err := QRSVG(inv.URI, "QR code of the invite link")
		if err != nil {
			return "", err
		}
		inv.QR = qr
		c.Result = inv
		return "", nil
	},
	"accept": func(c *Ctx) (string, error) {
		v, err := c.Need("invite", "The invite code or link")
		if err != nil {
			return "", err
		}
		if len(v[0]) > 4096 {
			return "", &UserError{Status: http.StatusBadRequest, Msg: "That invite is far too long to be one; paste the code or the oe://friend/ link."}
		}
		var f apitype.FriendStatus
		if err := c.API("POST", "/v1/friends/accept", map[string]string{"invite": v[0]}, &f); err != nil {
			return "", fmt.Errorf("the invite was not accepted: %w", err)
		}
		c.ui.kickPoll()
		return fmt.Sprintf("You and %s are friends now.", f.Name), nil
	},
	"rename": func(c *Ctx) (string, error) {
		p, err := friendPath(c)
		if err != nil {
			return "", err
		}
		v, err := c.Need("name", "The new name")
		if err != nil {
			return "", err
		}
		if err := c.API("PATCH", p, map[string]string{"name": v[0]}, nil); err != nil {
			return "", err
		}
		return fmt.Sprintf("Renamed to %s.", v[0]), nil
	},
	"block":   setBlocked(true),
	"unblock": setBlocked(false),
	"remove": func(c *Ctx) (string, error) {
		p, err := friendPath(c)
		if err != nil {
			return "", err
		}
		if c.Form("confirm") != "yes" {
			return "", &UserError{Status: http.StatusBadRequest, Msg: "Tick the box to confirm the removal; nothing was changed."}
		}
		if err := c.API("DELETE", p, nil, nil); err != nil {
			return "", err
		}
		c.ui.kickPoll()
		return "The friend was removed.", nil
	},
}

func setBlocked(b bool) Action {
	return func(c *Ctx) (string, error) {
		p, err := friendPath(c)
		if err != nil {
			return "", err
		}
		if err := c.API("PATCH", p, map[string]bool{"blocked": b}, nil); err != nil {
			return "", err
		}
		c.ui.kickPoll()
		if b {
			return "The friend is blocked: its box can no longer reach this one.", nil
		}
		return "The friend is unblocked.", nil
	}
}

// The live streams' poll: while a tab is open, friends and health are
// checked every PollEvery and an event goes out when they change.

func (u *UI) kickPoll() {
	select {
	case u.poll <- struct{}{}:
	default:
	}
}

func (u *UI) pollLoop(ctx context.Context) {
	t := time.NewTicker(u.cfg.PollEvery)
	defer t.Stop()
	// have: the last state is known (the first poll after a tab opens only
	// learns it).
	var lastFriends, lastHealth string
	have := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-u.poll:
		}
		if u.hub.count() == 0 {
			have = false
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var fs []apitype.FriendStatus
		if code, b, err := u.apiCall(cctx, "GET", "/v1/friends", "", nil, "127.0.0.1:0"); err == nil && code == 200 && json.Unmarshal(b, &fs) == nil {
			key := friendsKey(fs)
			if have && key != lastFriends {
				u.Publish("friends", fs)
			}
			lastFriends = key
		}
		var h apitype.HealthAnswer
		if code, b, err := u.apiCall(cctx, "GET", "/v1/health", "", nil, "127.0.0.1:0"); err == nil && code == 200 && json.Unmarshal(b, &h) == nil {
			var k strings.Builder
			for _, r := range h.Reports {
				fmt.Fprintf(&k, "%s=%s;", r.Name, r.Status)
			}
			if have && k.String() != lastHealth {
				u.Publish("health", h)
			}
			lastHealth = k.String()
		}
		have = true
		cancel()
	}
}

func friendsKey(fs []apitype.FriendStatus) string {
	var k []string
	for _, f := range fs {
		k = append(k, fmt.Sprintf("%s/%s/%v/%v/%v", f.ID, f.Name, f.Connected, f.Relayed, f.Blocked))
	}
	sort.Strings(k)
	return strings.Join(k, ";")
}
