package webui

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"oepc.dev/oepcos/packages/home/pairing"
)

// Phones pair as household members. The owner opens a pairing code on the
// Home page: a QR code of http(s)://BOX/pair?t=TOKEN (a single-use token
// of 256 bits, packages/home/pairing) and 8 digits to type instead, both
// valid for 5 minutes. The phone opens the link (or types the digits on
// /pair or the sign-in page), names itself and taps "Pair this phone":
// it gets a long-lived session (PhoneTTL) of the member role, which the
// owner renames or unpairs on the Home page (or signs out on the System
// page). Wrong codes count as failed sign-ins (attemptLimiter: 5, then one
// per 20 s), and after 5 wrong tries the code is replaced.

var pairTmpl = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/pair.html"))

// phonePairer holds the open pairing code (packages/home/pairing).
type phonePairer = pairing.Pairer

func newPhonePairer(now func() time.Time) *phonePairer { return pairing.New(pairing.Config{Now: now}) }

// maxPhoneName bounds a phone's name, in characters.
const maxPhoneName = 40

type pairView struct {
	Token string // from the QR code's link; "" when the digits are typed
	Name  string
}

func (u *UI) phoneRoutes() {
	u.mux.HandleFunc("GET /pair", u.getPair)
	u.mux.HandleFunc("POST /pair", u.postPair)
}

// tokenLike keeps a token from a link only if it looks like one (base64url,
// bounded), so nothing odd is echoed into the form.
func tokenLike(s string) string {
	if len(s) == 0 || len(s) > 100 {
		return ""
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return s
}

func (u *UI) getPair(w http.ResponseWriter, r *http.Request) {
	v := View{Title: "Pair this phone", Data: pairView{Token: tokenLike(r.URL.Query().Get("t"))}}
	if !u.auth.HasPassword() {
		v.Error = "This box is not set up yet: its owner sets it up first, then shows you a pairing code."
	}
	if s, _ := u.session(r); s != nil {
		v.Notice = "This browser is signed in as a " + s.Role.String() + " already; pairing signs it in as a household member instead."
	}
	u.render(w, r, pairTmpl, nil, http.StatusOK, v)
}

// postPair redeems a pairing token or the typed digits.
func (u *UI) postPair(w http.ResponseWriter, r *http.Request) {
	pv := pairView{}
	v := View{Title: "Pair this phone"}
	fail := func(status int, msg string) {
		v.Error, v.Data = msg, pv
		u.render(w, r, pairTmpl, nil, status, v)
	}
	if err := readForm(w, r); err != nil {
		fail(errStatus(err), err.Error())
		return
	}
	pv.Token = tokenLike(strings.TrimSpace(r.PostFormValue("token")))
	pv.Name = strings.TrimSpace(r.PostFormValue("name"))
	try := pv.Token
	if try == "" {
		try = strings.TrimSpace(r.PostFormValue("code"))
	}
	switch {
	case !u.auth.HasPassword():
		fail(http.StatusForbidden, "This box is not set up yet: its owner sets it up first, then shows you a pairing code.")
		return
	case try == "":
		fail(http.StatusBadRequest, "The pairing code is missing: type the 8 digits the owner's Home page shows (Phones), or scan its QR code.")
		return
	case len(try) > 100:
		fail(http.StatusBadRequest, "That is far too long to be a pairing code: type the 8 digits the owner's Home page shows.")
		return
	case utf8.RuneCountInString(pv.Name) > maxPhoneName:
		fail(http.StatusBadRequest, "The phone's name is too long: use at most 40 characters.")
		return
	}
	if pv.Name == "" {
		pv.Name = "Phone"
	}
	done, allowed, wait := u.lim.allow(limitKey(r))
	if !allowed {
		v.Data = pv
		u.tooMany(w, r, pairTmpl, v, wait)
		return
	}
	err := u.phones.Redeem(limitKey(r), try)
	if err != nil {
		defer done(true)
	} else {
		done(false)
	}
	switch {
	case errors.Is(err, pairing.ErrRateLimited):
		fail(http.StatusTooManyRequests, "Too many pairing tries from this device. Wait a minute and try again.")
		return
	case errors.Is(err, pairing.ErrNoCode):
		u.log.Warn("web UI: a phone tried to pair with no code open", "client", clientAddr(r))
		time.Sleep(u.cfg.FailDelay)
		fail(http.StatusForbidden, "No pairing code is open now (they last 5 minutes and work once). Ask the owner to open a new one: Home page, Phones, “Pair a phone”.")
		return
	case err != nil:
		u.log.Warn("web UI: wrong phone pairing code", "client", clientAddr(r))
		// The owner's screen shows the code again (or its replacement
		// after too many wrong tries).
		u.Publish("phones", struct{}{})
		time.Sleep(u.cfg.FailDelay)
		pv.Token = ""
		fail(http.StatusForbidden, "Wrong or expired pairing code. Type the 8 digits the owner's Home page shows now; after 5 wrong tries the code is replaced by a new one.")
		return
	}
	tok, s, err := u.auth.NewPhoneSession(pv.Name, clientAddr(r), r.UserAgent())
	if err != nil {
		fail(http.StatusInternalServerError, "The phone could not be paired: its session could not be saved ("+err.Error()+"). Ask the owner for a new code.")
		return
	}
	u.log.Info("web UI: a phone was paired as a household member", "name", pv.Name, "session", s.ID, "client", clientAddr(r))
	u.Publish("phones", struct{}{})
	u.setSessionCookie(w, r, tok, int(PhoneTTL/time.Second))
	http.Redirect(w, r, "/home", http.StatusSeeOther)
}

// pairingView is the open pairing code as the owner's Home page shows it.
type pairingView struct {
	Digits  string
	URL     string
	QR      template.HTML
	Expires time.Time
	Left    int // seconds
}

// openPairing is the code being shown, if one is open, with its link for
// the host the owner's browser uses (a phone on the same LAN reaches it).
func (u *UI) openPairing(r *http.Request) (*pairingView, error) {
	code, ok := u.phones.Current()
	if !ok {
		return nil, nil
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	link := (&url.URL{Scheme: scheme, Host: r.Host, Path: "/pair", RawQuery: "t=" + code.Token}).String()
	qr, err := QRSVG(link, "QR code to pair a phone: scan it with the phone's camera")
	if err != nil {
		return nil, err
	}
	left := int(code.Expires.Sub(u.now()).Seconds())
	return &pairingView{Digits: code.Digits, URL: link, QR: qr, Expires: code.Expires, Left: max(left, 0)}, nil
}

// phoneSessions lists the paired phones.
func (u *UI) phoneSessions() []Session {
	var out []Session
	for _, s := range u.auth.Sessions() {
		if s.Phone {
			out = append(out, s)
		}
	}
	return out
}

func (u *UI) isPhone(id string) bool {
	for _, s := range u.phoneSessions() {
		if s.ID == id {
			return true
		}
	}
	return false
}

// phoneActions are the owner's on the Home page's Phones part.
var phoneActions = map[string]Action{
	"pair-open": ownerAction(func(c *Ctx) (string, error) {
		if _, err := c.ui.phones.Open(); err != nil {
			return "", err
		}
		c.ui.log.Info("web UI: a phone pairing code was opened", "client", clientAddr(c.R))
		c.ui.Publish("phones", struct{}{})
		return "Scan the QR code with the phone, or type the digits on its sign-in page, within 5 minutes.", nil
	}),
	"pair-close": ownerAction(func(c *Ctx) (string, error) {
		c.ui.phones.Close()
		c.ui.Publish("phones", struct{}{})
		return "The pairing code was withdrawn.", nil
	}),
	"phone-rename": ownerAction(func(c *Ctx) (string, error) {
		v, err := c.Need("session", "The phone", "name", "The new name")
		if err != nil {
			return "", err
		}
		if utf8.RuneCountInString(v[1]) > maxPhoneName {
			return "", &UserError{Status: http.StatusBadRequest, Msg: "The name is too long: use at most 40 characters."}
		}
		if !c.ui.isPhone(v[0]) {
			return "", &UserError{Status: http.StatusNotFound, Msg: "No such paired phone (it may have been unpaired already)."}
		}
		if err := c.ui.auth.RenameSession(v[0], v[1]); err != nil {
			return "", err
		}
		return "The phone is called " + v[1] + " now.", nil
	}),
	"phone-unpair": ownerAction(func(c *Ctx) (string, error) {
		v, err := c.Need("session", "The phone")
		if err != nil {
			return "", err
		}
		if !c.ui.isPhone(v[0]) {
			return "", &UserError{Status: http.StatusNotFound, Msg: "No such paired phone (it may have been unpaired already)."}
		}
		if err := c.ui.auth.EndSession(v[0]); err != nil {
			return "", &UserError{Status: http.StatusNotFound, Msg: err.Error()}
		}
		c.ui.log.Info("web UI: a phone was unpaired", "session", v[0])
		c.ui.Publish("phones", struct{}{})
		return "The phone was unpaired: it is signed out and needs a new code to come back.", nil
	}),
}

// ownerAction refuses an action to anyone but the owner (the Home page is
// open to household members; these of its actions are not).
func ownerAction(a Action) Action {
	return func(c *Ctx) (string, error) {
		if !c.Session.Role.Allows(RoleOwner) {
			return "", &UserError{Status: http.StatusForbidden, Msg: "Only the box's owner can do this; you are signed in as a " + c.Session.Role.String() + ". Nothing was changed."}
		}
		return a(c)
	}
}
