package webui

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/home/homeapi"
)

// fakeHome stands in for homed's API behind the fake local API: one lamp
// that switches, and schedules kept in a map.
type fakeHome struct {
	mu        sync.Mutex
	lamp      homeapi.Device
	schedules map[string]homeapi.Schedule
	calls     []string
}

func newFakeHome() *fakeHome {
	return &fakeHome{lamp: homeapi.Device{Name: "Floor lamp", Room: "Living room", Kind: homeapi.KindLamp, Protocol: "insteon", Address: "1A.2B.3C",
		State: homeapi.State{State: homeapi.StateOff}}, schedules: map[string]homeapi.Schedule{}}
}

func (f *fakeHome) handler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	p := homeapi.Prefix
	js := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET "+p+"devices", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		js(w, []homeapi.Device{f.lamp})
	})
	mux.HandleFunc("POST "+p+"devices/{name}/{op}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		if r.PathValue("name") != f.lamp.Name {
			writeJSONError(w, http.StatusNotFound, "no device")
			return
		}
		switch r.PathValue("op") {
		case "on":
			f.lamp.State = homeapi.State{State: homeapi.StateOn, Level: 255}
		case "off":
			f.lamp.State = homeapi.State{State: homeapi.StateOff}
		case "dim":
			var d homeapi.DimRequest
			json.NewDecoder(r.Body).Decode(&d)
			f.lamp.State = homeapi.State{State: homeapi.StateOn, Level: d.Level}
		}
		js(w, f.lamp)
	})
	mux.HandleFunc("GET "+p+"scenes", func(w http.ResponseWriter, r *http.Request) { js(w, []homeapi.Scene{}) })
	mux.HandleFunc("GET "+p+"schedules", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := []homeapi.Schedule{}
		for _, s := range f.schedules {
			out = append(out, s)
		}
		js(w, out)
	})
	mux.HandleFunc("PUT "+p+"schedules/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var s homeapi.Schedule
		json.NewDecoder(r.Body).Decode(&s)
		f.schedules[s.Name] = s
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		js(w, s)
	})
	mux.HandleFunc("DELETE "+p+"schedules/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.schedules, r.PathValue("name"))
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		writeJSONError(w, http.StatusNotFound, "no route")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, p) {
			if r.Header.Get("Authorization") == "" {
				writeJSONError(w, http.StatusUnauthorized, "no token")
				return
			}
			mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (e *env) withHome() *fakeHome {
	f := newFakeHome()
	e.ui.cfg.API = f.handler(e.api)
	return f
}

// openCode opens a pairing code as the owner and returns its digits and
// link, as the Home page shows them.
func openCode(t *testing.T, e *env, owner *http.Client) (digits, link string) {
	t.Helper()
	resp, body := e.post(owner, "/home", url.Values{"do": {"pair-open"}})
	if resp.StatusCode != 200 {
		t.Fatalf("pair-open: %d %s", resp.StatusCode, body)
	}
	d := regexp.MustCompile(`id="pair-digits"[^>]*>(\d{4}-\d{4})<`).FindStringSubmatch(body)
	l := regexp.MustCompile(`id="pair-url" class="mono" readonly value="([^"]+)"`).FindStringSubmatch(body)
	if d == nil || l == nil || !strings.Contains(body, `<svg`) {
		t.Fatalf("the Home page shows no code, link or QR code after pair-open:\n%s", body)
	}
	return d[1], strings.ReplaceAll(l[1], "&amp;", "&")
}

func TestPhonePairing(t *testing.T) {
	e := newEnv(t)
	e.withHome()
	owner := e.owner()
	digits, link := openCode(t, e, owner)
	u, err := url.Parse(link)
	if err != nil || u.Path != "/pair" || len(u.Query().Get("t")) < 43 {
		t.Fatalf("pairing link %q: want /pair?t= and a token of at least 256 bits", link)
	}

	// A wrong code is refused; the right digits then pair.
	phone := e.client()
	resp, body := e.post(phone, "/pair", url.Values{"code": {"0000-0000"}})
	if digits != "0000-0000" && (resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Wrong or expired")) {
		t.Fatalf("wrong code: %d %s", resp.StatusCode, body)
	}
	resp, body = e.post(phone, "/pair", url.Values{"code": {digits}, "name": {"Anna's phone"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("pair with the digits: %d %s", resp.StatusCode, body)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "oepc_session" {
			cookie = c
		}
	}
	if cookie == nil || cookie.MaxAge < int(300*24*time.Hour/time.Second) || !cookie.HttpOnly {
		t.Fatalf("the phone's cookie is not a long-lived HttpOnly session: %+v", cookie)
	}
	// The code works once.
	again := e.client()
	if resp, _ := e.post(again, "/pair", url.Values{"code": {digits}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a used code paired again: %d", resp.StatusCode)
	}

	// The phone sees Home, and nothing else.
	resp, body = e.get(phone, "/home")
	if resp.StatusCode != 200 || !strings.Contains(body, "Floor lamp") || strings.Contains(body, `id="h-phones"`) {
		t.Fatalf("the phone's Home page: %d", resp.StatusCode)
	}
	if strings.Contains(body, `href="/system"`) || strings.Contains(body, `href="/files"`) {
		t.Fatal("the phone's navigation offers owner pages")
	}
	for _, p := range []string{"/files", "/system", "/friends", "/network"} {
		resp, body := e.get(phone, p)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "household member") {
			t.Errorf("phone GET %s: %d", p, resp.StatusCode)
		}
	}
	// It may switch the lamp, but not change homed's setup nor pair others.
	resp, body = e.post(phone, "/home", url.Values{"do": {"switch"}, "device": {"Floor lamp"}, "to": {"on"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Floor lamp: on.") || !strings.Contains(body, `aria-pressed="true"`) {
		t.Fatalf("phone switches the lamp on: %d %s", resp.StatusCode, body)
	}
	for _, do := range []string{"pair-open", "schedule-add", "schedule-remove", "phone-unpair"} {
		if resp, _ := e.post(phone, "/home", url.Values{"do": {do}, "name": {"x"}, "target": {"device:Floor lamp"}, "time": {"07:00"}, "session": {"x"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("phone %s: %d", do, resp.StatusCode)
		}
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/home/devices", 200},
		{"POST", "/v1/home/devices/Floor%20lamp/off", 200},
		{"PUT", "/v1/home/devices/Floor%20lamp", 403},
		{"DELETE", "/v1/home/schedules/x", 403},
		{"POST", "/v1/home/devices/Floor%20lamp/on/x", 403},
		{"POST", "/v1/home/devices/Floor%20lamp%2Fx/on", 403},
		{"GET", "/v1/cloud/ls", 403},
		{"GET", "/v1/status", 403},
	} {
		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := phone.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("phone %s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}

	// The token link pairs a second phone (once).
	var sessID string
	second := e.client()
	_, link2 := openCode(t, e, owner)
	resp, body = e.get(second, strings.TrimPrefix(link2, "http://"+u.Host))
	tok := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || tok == nil {
		t.Fatalf("GET the pairing link: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.post(second, "/pair", url.Values{"token": {tok[1]}, "name": {"Ben"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pair with the link's token: %d %s", resp.StatusCode, body)
	}

	// The owner sees both phones, renames one and unpairs the other.
	_, body = e.get(owner, "/home")
	for _, m := range regexp.MustCompile(`data-phone="([0-9a-f]+)"`).FindAllStringSubmatch(body, -1) {
		for _, s := range e.ui.auth.Sessions() {
			if s.ID == m[1] && s.Name == "Ben" {
				sessID = s.ID
			}
		}
	}
	if !strings.Contains(body, "Anna&#39;s phone") || sessID == "" {
		t.Fatalf("the owner's Phones list misses a phone:\n%s", body)
	}
	if resp, body := e.post(owner, "/home", url.Values{"do": {"phone-rename"}, "session": {sessID}, "name": {"Ben's tablet"}}); resp.StatusCode != 200 || !strings.Contains(body, "Ben&#39;s tablet") {
		t.Fatalf("rename: %d", resp.StatusCode)
	}
	if resp, _ := e.post(owner, "/home", url.Values{"do": {"phone-unpair"}, "session": {sessID}}); resp.StatusCode != 200 {
		t.Fatalf("unpair: %d", resp.StatusCode)
	}
	if resp, _ := e.get(second, "/home"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("an unpaired phone still sees Home: %d", resp.StatusCode)
	}
	// A new password keeps the phones paired (browsers are signed out).
	if err := e.ui.auth.SetPassword("yet another password"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.get(phone, "/home"); resp.StatusCode != 200 {
		t.Fatalf("a new password unpaired the phone: %d", resp.StatusCode)
	}
	if resp, _ := e.get(owner, "/home"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a new password kept the owner's old session: %d", resp.StatusCode)
	}
}

func TestPairingCodeReplacedAfterFiveWrong(t *testing.T) {
	e := newEnv(t)
	e.withHome()
	owner := e.owner()
	digits, _ := openCode(t, e, owner)
	phone := e.client()
	wrong := "1111-1111"
	if digits == wrong {
		wrong = "2222-2222"
	}
	for i := 0; i < 5; i++ {
		// Limited like failed sign-ins: 5 in a burst.
		if resp, body := e.post(phone, "/pair", url.Values{"code": {wrong}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("wrong try %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if resp, _ := e.post(phone, "/pair", url.Values{"code": {digits}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a 6th try at once is not limited: %d", resp.StatusCode)
	}
	// From another address the old digits no longer work: the code was
	// replaced, and the owner's page shows the new one.
	e.ui.lim = newAttemptLimiter(e.ui.now)
	if resp, _ := e.post(phone, "/pair", url.Values{"code": {digits}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the old code works after 5 wrong tries: %d", resp.StatusCode)
	}
	_, body := e.get(owner, "/home")
	m := regexp.MustCompile(`id="pair-digits"[^>]*>(\d{4}-\d{4})<`).FindStringSubmatch(body)
	if m == nil || m[1] == digits {
		t.Fatalf("the owner's page does not show a replaced code: %v", m)
	}
	if resp, _ := e.post(phone, "/pair", url.Values{"code": {m[1]}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the replacement code does not pair: %d", resp.StatusCode)
	}
}

func TestHomeOwnerSchedules(t *testing.T) {
	e := newEnv(t)
	f := e.withHome()
	owner := e.owner()
	resp, body := e.post(owner, "/home", url.Values{"do": {"schedule-add"}, "name": {"Dusk"}, "target": {"device:Floor lamp"}, "op": {"dim"},
		"level": {"40"}, "when": {"sunset"}, "offset": {"-15"}, "weekday": {"mon", "fri"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Schedule Dusk added.") {
		t.Fatalf("add: %d %s", resp.StatusCode, body)
	}
	s := f.schedules["Dusk"]
	if s.At != "sunset" || s.Offset != -15 || s.Device != "Floor lamp" || s.Level != 102 || strings.Join(s.Weekdays, ",") != "mon,fri" {
		t.Fatalf("schedule sent %+v", s)
	}
	if !strings.Contains(body, `data-schedule="Dusk"`) {
		t.Fatal("the new schedule is not listed")
	}
	if resp, _ := e.post(owner, "/home", url.Values{"do": {"schedule-remove"}, "name": {"Dusk"}}); resp.StatusCode != 200 || len(f.schedules) != 0 {
		t.Fatalf("remove: %d %v", resp.StatusCode, f.schedules)
	}
	if resp, body := e.post(owner, "/home", url.Values{"do": {"dim"}, "device": {"Floor lamp"}, "level": {"40"}}); resp.StatusCode != 200 || !strings.Contains(body, "On · 40%") {
		t.Fatalf("dim: %d", resp.StatusCode)
	}
}

// A household member's event stream carries the home's events only.
func TestMemberEvents(t *testing.T) {
	e := newEnv(t)
	tok, _, err := e.ui.Auth().NewPhoneSession("p", "x", "y")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/ui/events", nil)
	req.AddCookie(&http.Cookie{Name: "oepc_session", Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "event: hello") {
	}
	e.ui.Publish("friends", map[string]string{"secret": "friend list"})
	e.ui.Publish("home", homeapi.Event{Kind: homeapi.EventState, Device: "Floor lamp"})
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "friend list") {
			t.Fatal("a household member got the owner's friends event")
		}
		if strings.HasPrefix(l, "data: ") && strings.Contains(l, "Floor lamp") {
			return
		}
	}
	t.Fatalf("no home event: %v", sc.Err())
}

func TestMemberHomeRoute(t *testing.T) {
	for _, c := range []struct {
		m, p string
		ok   bool
	}{
		{"GET", "/v1/home/devices", true},
		{"GET", "/v1/home/events", true},
		{"GET", "/v1/home/devices/Lamp", true},
		{"POST", "/v1/home/devices/Lamp/on", true},
		{"POST", "/v1/home/devices/Lamp/dim", true},
		{"POST", "/v1/home/scenes/Evening/off", true},
		{"POST", "/v1/home/devices//on", false},
		{"POST", "/v1/home/devices/Lamp/delete", false},
		{"PUT", "/v1/home/devices/Lamp", false},
		{"DELETE", "/v1/home/devices/Lamp", false},
		{"PUT", "/v1/home/settings", false},
		{"GET", "/v1/home", false},
		{"GET", "/v1/homeevil", false},
		{"GET", "/v1/cloud/ls", false},
		{"POST", "/v1/home/scenes/Evening/delete", false},
	} {
		if got := memberHomeRoute(c.m, c.p); got != c.ok {
			t.Errorf("memberHomeRoute(%s %s) = %v", c.m, c.p, got)
		}
	}
}

// A box without homed says so on its Home page.
func TestHomeWithoutHomed(t *testing.T) {
	e := newEnv(t)
	owner := e.owner()
	resp, body := e.get(owner, "/home")
	if resp.StatusCode != 200 || !strings.Contains(body, "This box has no home automation") || !strings.Contains(body, `id="h-phones"`) {
		t.Fatalf("Home without homed: %d %s", resp.StatusCode, body)
	}
}
