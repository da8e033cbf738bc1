package webui

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

var (
	setupTmpl  = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/setup.html"))
	signinTmpl = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/signin.html"))
)

// ResetWindow is how long a reset asked for at the sign-in page stays open
// for the fresh pairing code.
const ResetWindow = 15 * time.Minute

// toSignin sends a browser without a session where it can get one.
func (u *UI) toSignin(w http.ResponseWriter, r *http.Request) {
	to := "/signin"
	if !u.auth.HasPassword() {
		to = "/setup"
	}
	if r.Method == http.MethodGet {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	u.renderMessage(w, r, http.StatusUnauthorized, "Signed out", "You are signed out, so nothing was changed. Sign in again.")
}

func (u *UI) getSetup(w http.ResponseWriter, r *http.Request) {
	if !u.auth.SetupOpen() {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	u.render(w, r, setupTmpl, nil, http.StatusOK, View{Title: "Set up your box", Data: u.auth.HasPassword()})
}

// postSetup takes the pairing code and the new password.
func (u *UI) postSetup(w http.ResponseWriter, r *http.Request) {
	v := View{Title: "Set up your box", Data: u.auth.HasPassword()}
	fail := func(status int, msg string) {
		v.Error = msg
		u.render(w, r, setupTmpl, nil, status, v)
	}
	if !u.auth.SetupOpen() {
		fail(http.StatusForbidden, "The password is already set. Sign in with it, or ask for a reset on the sign-in page.")
		return
	}
	if err := readForm(w, r); err != nil {
		fail(errStatus(err), err.Error())
		return
	}
	code, pw, pw2 := r.PostFormValue("code"), r.PostFormValue("password"), r.PostFormValue("password2")
	switch {
	case normCode(code) == "":
		fail(http.StatusBadRequest, "The pairing code is missing: type the code shown on the box's screen or console.")
		return
	case pw == "":
		fail(http.StatusBadRequest, "The new password is missing.")
		return
	case pw != pw2:
		fail(http.StatusBadRequest, "The two passwords differ: type the same password twice.")
		return
	}
	if err := checkNewPassword(pw); err != nil {
		fail(http.StatusBadRequest, "The password is not accepted: "+err.Error()+".")
		return
	}
	done, allowed, wait := u.lim.allow(limitKey(r))
	if !allowed {
		u.tooMany(w, r, setupTmpl, v, wait)
		return
	}
	ok, err := u.checkPairing(code)
	if !ok {
		// The failure delay is part of the attempt: the next one waits.
		defer done(true)
	} else {
		done(false)
	}
	if err != nil {
		fail(http.StatusInternalServerError, "The pairing code could not be checked: "+err.Error())
		return
	}
	if !ok {
		u.log.Warn("web UI: wrong pairing code", "client", clientAddr(r))
		time.Sleep(u.cfg.FailDelay)
		fail(http.StatusForbidden, "Wrong pairing code. Type the code the box shows on its screen or console.")
		return
	}
	if err := u.auth.SetPassword(pw); err != nil {
		fail(http.StatusInternalServerError, "The password could not be saved: "+err.Error())
		return
	}
	u.usePairing()
	u.log.Info("web UI: the owner's password was set", "client", clientAddr(r))
	u.startSession(w, r, RoleOwner)
}

func (u *UI) startSession(w http.ResponseWriter, r *http.Request, role Role) {
	tok, _, err := u.auth.NewSession(role, clientAddr(r), r.UserAgent())
	if err != nil {
		u.renderMessage(w, r, http.StatusInternalServerError, "Not signed in", "The session could not be saved: "+err.Error())
		return
	}
	u.setSessionCookie(w, r, tok, int(SessionTTL/time.Second))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (u *UI) tooMany(w http.ResponseWriter, r *http.Request, t *template.Template, v View, wait time.Duration) {
	secs := int(wait.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	v.Error = fmt.Sprintf("Too many sign-in attempts from this device. Wait %d seconds and try again.", secs)
	u.log.Warn("web UI: sign-in attempts limited", "client", clientAddr(r), "wait", wait.Round(time.Second))
	u.render(w, r, t, nil, http.StatusTooManyRequests, v)
}

func (u *UI) getSignin(w http.ResponseWriter, r *http.Request) {
	if !u.auth.HasPassword() {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	u.render(w, r, signinTmpl, nil, http.StatusOK, View{Title: "Sign in"})
}

func (u *UI) postSignin(w http.ResponseWriter, r *http.Request) {
	v := View{Title: "Sign in"}
	fail := func(status int, msg string) {
		v.Error = msg
		u.render(w, r, signinTmpl, nil, status, v)
	}
	if !u.auth.HasPassword() {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	if err := readForm(w, r); err != nil {
		fail(errStatus(err), err.Error())
		return
	}
	pw := r.PostFormValue("password")
	if pw == "" {
		fail(http.StatusBadRequest, "The password is missing.")
		return
	}
	done, allowed, wait := u.lim.allow(limitKey(r))
	if !allowed {
		u.tooMany(w, r, signinTmpl, v, wait)
		return
	}
	err := u.auth.CheckPassword(pw)
	if err != nil {
		defer done(true)
	} else {
		done(false)
	}
	if err != nil {
		if errors.Is(err, ErrWrongPassword) {
			u.log.Warn("web UI: wrong password", "client", clientAddr(r))
			time.Sleep(u.cfg.FailDelay)
			fail(http.StatusForbidden, "Wrong password. Forgot it? Ask for a reset below: a fresh code appears on the box's screen and console.")
			return
		}
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	u.log.Info("web UI: signed in", "client", clientAddr(r))
	u.startSession(w, r, RoleOwner)
}

// postReset opens a password reset: a fresh pairing code is made and shown
// only on the box (its console log and the TV), never on the network, so
// only someone at the box can use it. The old password keeps working
// until a new one is set.
func (u *UI) postReset(w http.ResponseWriter, r *http.Request) {
	v := View{Title: "Sign in"}
	if err := readForm(w, r); err != nil {
		v.Error = err.Error()
		u.render(w, r, signinTmpl, nil, errStatus(err), v)
		return
	}
	// A reset always costs an attempt: it replaces the code on the box.
	done, allowed, wait := u.lim.allow(limitKey(r))
	if !allowed {
		u.tooMany(w, r, signinTmpl, v, wait)
		return
	}
	defer done(true)
	u.pairMu.Lock()
	code, err := NewPairingCode(u.cfg.PairingFile)
	u.pairFails = 0
	u.pairMu.Unlock()
	if err == nil {
		err = u.auth.StartReset(u.now().Add(ResetWindow))
	}
	if err != nil {
		v.Error = "The reset could not start: " + err.Error()
		u.render(w, r, signinTmpl, nil, http.StatusInternalServerError, v)
		return
	}
	u.log.Warn("web UI: password reset asked for; type this code at /setup within 15 minutes", "code", code, "client", clientAddr(r))
	http.Redirect(w, r, "/setup", http.StatusSeeOther)
}

func (u *UI) postSignout(w http.ResponseWriter, r *http.Request) {
	s, _ := u.session(r)
	if s != nil {
		u.auth.EndSession(s.ID)
	}
	u.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
