package imagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/ota"
)

// WebUI is a browser-like client of a box's web UI (port 80 through a
// host forward): it keeps the session cookie in a jar and sends the
// Origin and Sec-Fetch-Site headers a browser sends with a same-origin
// form or fetch, so the box's CrossOriginProtection lets its changes
// through.
type WebUI struct {
	Base string // e.g. http://127.0.0.1:40125
	c    *http.Client
}

// NewWebUI returns a client without a session.
func NewWebUI(base string) (*WebUI, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &WebUI{Base: base, c: &http.Client{Jar: jar,
		// The answers to sign-in forms are redirects; where they lead
		// says whether it worked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

func (w *WebUI) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, w.Base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Origin", w.Base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("User-Agent", "oepc imagetest")
	return req, nil
}

// form posts a sign-in form and wants a redirect to /.
func (w *WebUI) form(ctx context.Context, path string, v url.Values) error {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := w.newRequest(ctx, http.MethodPost, path, strings.NewReader(v.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := w.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		return fmt.Errorf("POST %s: HTTP %d to %q, want 303 to /: %s", path, resp.StatusCode, resp.Header.Get("Location"), pageError(body))
	}
	return nil
}

// pageError is the error paragraph of a page, or its start.
func pageError(body []byte) string {
	s := string(body)
	if i := strings.Index(s, `role="alert"`); i >= 0 {
		s = s[i:]
	}
	return s[:min(len(s), 400)]
}

// Setup is the owner's first visit: the pairing code and a new password.
func (w *WebUI) Setup(ctx context.Context, code, password string) error {
	return w.form(ctx, "/setup", url.Values{"code": {code}, "password": {password}, "password2": {password}})
}

// SignIn starts a session with the owner's password.
func (w *WebUI) SignIn(ctx context.Context, password string) error {
	return w.form(ctx, "/signin", url.Values{"password": {password}})
}

// UpdateStatus is GET /system/update/status.
func (w *WebUI) UpdateStatus(ctx context.Context) (ota.Progress, error) {
	var p ota.Progress
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := w.newRequest(ctx, http.MethodGet, "/system/update/status", nil)
	if err != nil {
		return p, err
	}
	resp, err := w.c.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return p, err
	}
	if resp.StatusCode != http.StatusOK {
		return p, &HTTPError{resp.StatusCode, strings.TrimSpace(string(data[:min(len(data), 300)]))}
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("/system/update/status: %w: %s", err, data)
	}
	return p, nil
}

// UpdateAnswer is the web UI's answer to an uploaded image.
type UpdateAnswer struct {
	ota.Progress
	Message string `json:"message"`
	Error   string `json:"error"`
}

// Update uploads the first n bytes of the disk image file img to
// POST /system/update as ota.js does (the raw bytes,
// application/octet-stream) and returns the box's answer. The box answers
// once the image is written and it has asked gokrazy to reboot.
func (w *WebUI) Update(ctx context.Context, img string, n int64, timeout time.Duration) (UpdateAnswer, error) {
	var a UpdateAnswer
	f, err := os.Open(img)
	if err != nil {
		return a, err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := w.newRequest(ctx, http.MethodPost, "/system/update", io.LimitReader(f, n))
	if err != nil {
		return a, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := w.c.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return a, fmt.Errorf("reading the answer to the upload: %w", err)
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("POST /system/update: HTTP %d: %w: %s", resp.StatusCode, err, data[:min(len(data), 300)])
	}
	if resp.StatusCode != http.StatusOK {
		return a, &HTTPError{resp.StatusCode, a.Error}
	}
	return a, nil
}

// PartsComplete says which partitions of p are not written in full.
func PartsComplete(p ota.Progress) error {
	if len(p.Parts) == 0 {
		return errors.New("no partitions in the progress")
	}
	var bad []string
	for _, pt := range p.Parts {
		if !pt.Done || pt.Written != pt.Total || pt.Total <= 0 {
			bad = append(bad, fmt.Sprintf("%s %d/%d done=%v", pt.Name, pt.Written, pt.Total, pt.Done))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("partitions not written in full: %s", strings.Join(bad, ", "))
	}
	return nil
}

// otaPolls is what polling an update's progress saw.
type otaPolls struct {
	n      int
	states []string       // each state, in the order first seen
	maxPct map[string]int // per partition, the most written (percent)
	last   ota.Progress
	errs   int
}

func (o *otaPolls) add(p ota.Progress) {
	o.n++
	o.last = p
	if len(o.states) == 0 || o.states[len(o.states)-1] != p.State {
		o.states = append(o.states, p.State)
	}
	if o.maxPct == nil {
		o.maxPct = map[string]int{}
	}
	for _, pt := range p.Parts {
		if pt.Total > 0 {
			o.maxPct[pt.Name] = max(o.maxPct[pt.Name], int(pt.Written*100/pt.Total))
		}
	}
}

func (o *otaPolls) summary() string {
	return fmt.Sprintf("%d polls (%d failed), partitions written %v", o.n, o.errs, o.maxPct)
}

// pollUpdate polls GET /system/update/status every half second until ctx
// ends, as the System page does during an update.
func pollUpdate(ctx context.Context, w *WebUI) otaPolls {
	var o otaPolls
	for {
		if p, err := w.UpdateStatus(ctx); err == nil {
			o.add(p)
		} else if ctx.Err() == nil {
			o.errs++
		}
		select {
		case <-ctx.Done():
			return o
		case <-time.After(500 * time.Millisecond):
		}
	}
}
