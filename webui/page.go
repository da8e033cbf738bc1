package webui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Page is one page of the UI: GET Path renders Template with what Load
// returns; a POST to Path runs the action its form names (field "do") and
// renders the page again with the outcome. That way a form works without
// JavaScript; with it, app.js sends the same POST and swaps in the new
// <main>.
type Page struct {
	Path     string // "/friends"
	Title    string // the page's heading and <title>
	Nav      string // label in the navigation; "" keeps it out
	Role     Role   // the least role that sees it
	Template string // file under templates/ (or under FS) defining "content"
	// FS, if set, holds Template instead of the UI's embedded templates
	// (a later issue's package can bring its own page).
	FS fs.FS
	// Live names the event kinds after which the page's live regions
	// (elements with data-live) are reloaded, e.g. "friends", "health".
	Live []string
	// Load returns the template's data (.Data); nil: none.
	Load func(c *Ctx) (any, error)
	// Actions are the page's form posts, by the form's "do" field. An
	// action returns a notice for the page, or an error (a *UserError
	// or a local API error keeps its status and says what to do).
	Actions map[string]Action

	tmpl *template.Template
}

// Action is one form post of a page.
type Action func(c *Ctx) (notice string, err error)

// Ctx is one request to a page.
type Ctx struct {
	W       http.ResponseWriter
	R       *http.Request
	Session *Session
	// Result is what an action leaves for the template (.Result), e.g.
	// the invite it made.
	Result any
	ui     *UI
}

// Context is the request's context.
func (c *Ctx) Context() context.Context { return c.R.Context() }

// Form returns a form field, trimmed.
func (c *Ctx) Form(name string) string { return strings.TrimSpace(c.R.PostFormValue(name)) }

// Need returns the named form fields, or a *UserError naming the first
// one missing (label: what the page calls it).
func (c *Ctx) Need(fields ...string) ([]string, error) {
	out := make([]string, 0, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		v := c.Form(fields[i])
		if v == "" {
			return nil, &UserError{Status: http.StatusBadRequest, Msg: fields[i+1] + " is missing: fill it in and try again."}
		}
		out = append(out, v)
	}
	return out, nil
}

// UI is the UI serving the request.
func (c *Ctx) UI() *UI { return c.ui }

// API calls the box's local API in-process, as the CLI would over HTTP:
// in (nil: no body) is sent as JSON and the answer decoded into out (nil:
// dropped). A non-2xx answer is an *APIError carrying the API's message.
func (c *Ctx) API(method, path string, in, out any) error {
	var body []byte
	ct := ""
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
		ct = "application/json"
	}
	code, b, err := c.ui.apiCall(c.Context(), method, path, ct, body, c.R.RemoteAddr)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &APIError{Status: code, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the box's API gave an answer the page cannot read: %w", err)
	}
	return nil
}

// APIError is a local API answer other than 2xx.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// UserError is a mistake the user can fix: shown on the page with Status.
type UserError struct {
	Status int
	Msg    string
}

func (e *UserError) Error() string { return e.Msg }

// errStatus is the HTTP status an action's error answers with.
func errStatus(err error) int {
	var ue *UserError
	var ae *APIError
	switch {
	case errors.As(err, &ue):
		return ue.Status
	case errors.As(err, &ae):
		return ae.Status
	}
	return http.StatusInternalServerError
}

// View is what every page template gets.
type View struct {
	Box     string
	Title   string
	Path    string
	Session *Session
	Nav     []NavItem
	Live    string // space-separated event kinds
	Data    any
	Result  any
	Notice  string
	Error   string
}

// NavItem is one entry of the navigation.
type NavItem struct {
	Path, Label string
	Current     bool
}

// AddPage adds a page (call before the UI serves).
func (u *UI) AddPage(p Page) error {
	if !strings.HasPrefix(p.Path, "/") || p.Template == "" || p.Role == 0 {
		return fmt.Errorf("webui: page %q needs a path, a template and a role", p.Path)
	}
	t, err := u.parse(p.FS, p.Template)
	if err != nil {
		return err
	}
	pp := p
	pp.tmpl = t
	u.pages = append(u.pages, &pp)
	u.mux.HandleFunc("GET "+p.Path, func(w http.ResponseWriter, r *http.Request) { u.servePage(w, r, &pp) })
	u.mux.HandleFunc("POST "+p.Path, func(w http.ResponseWriter, r *http.Request) { u.servePage(w, r, &pp) })
	return nil
}

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Truncate(time.Second).String() + " ago"
	},
	"when":  func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") },
	"short": func(s string) string { return shortID(s) },
	"oec":   oec,
	"add":   func(a, b int) int { return a + b },
	"base":  path.Base,
	"has": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
}

func shortID(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (u *UI) parse(pfs fs.FS, name string) (*template.Template, error) {
	t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	if pfs == nil {
		pfs, _ = fs.Sub(assets, "templates")
	}
	if t, err = t.ParseFS(pfs, name); err != nil {
		return nil, fmt.Errorf("webui: template %s: %w", name, err)
	}
	return t, nil
}

// maxForm bounds a form post's body.
const maxForm = 16 << 10

// readForm checks a post's content type and size and parses it; the error
// is a *UserError that says what was wrong.
func readForm(w http.ResponseWriter, r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return &UserError{Status: http.StatusUnsupportedMediaType, Msg: "This form must be sent as application/x-www-form-urlencoded (a plain HTML form); nothing was changed."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &UserError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("The form is too large (over %d KiB); nothing was changed.", maxForm>>10)}
		}
		return &UserError{Status: http.StatusBadRequest, Msg: "The form could not be read (" + err.Error() + "); nothing was changed."}
	}
	return nil
}

// servePage gates, runs an action if posted, loads and renders a page.
func (u *UI) servePage(w http.ResponseWriter, r *http.Request, p *Page) {
	s, _ := u.session(r)
	if s == nil {
		u.toSignin(w, r)
		return
	}
	if !s.Role.Allows(p.Role) {
		u.renderMessage(w, r, http.StatusForbidden, "Not for your role", "This page is for the box's "+p.Role.String()+"; you are signed in as a "+s.Role.String()+".")
		return
	}
	c := &Ctx{W: w, R: r, Session: s, ui: u}
	v := View{Title: p.Title, Path: p.Path, Live: strings.Join(p.Live, " ")}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if err := readForm(w, r); err != nil {
			status, v.Error = errStatus(err), err.Error()
		} else if act, ok := p.Actions[c.Form("do")]; !ok {
			status, v.Error = http.StatusBadRequest, fmt.Sprintf("This page has no action %q; nothing was changed.", c.Form("do"))
		} else if notice, err := act(c); err != nil {
			status, v.Error = errStatus(err), err.Error()
			if status >= 500 {
				u.log.Warn("web UI action failed", "page", p.Path, "do", c.Form("do"), "err", err)
			}
		} else {
			v.Notice = notice
		}
	}
	if p.Load != nil {
		d, err := p.Load(c)
		if err != nil {
			u.log.Warn("web UI page could not load", "page", p.Path, "err", err)
			if v.Error == "" {
				v.Error = "This page could not load everything: " + err.Error()
			}
			if status == http.StatusOK {
				status = errStatus(err)
			}
		}
		v.Data = d
	}
	v.Result = c.Result
	u.render(w, r, p.tmpl, s, status, v)
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, t *template.Template, s *Session, status int, v View) {
	v.Box, v.Session = u.cfg.Name, s
	if s != nil {
		for _, p := range u.pages {
			if p.Nav != "" && s.Role.Allows(p.Role) {
				v.Nav = append(v.Nav, NavItem{Path: p.Path, Label: p.Nav, Current: p.Path == v.Path})
			}
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		u.log.Error("web UI template failed", "title", v.Title, "err", err)
		http.Error(w, "the page could not be drawn: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

var messageTmpl = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/message.html"))

// renderMessage draws a page that only says something (errors, refusals).
func (u *UI) renderMessage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s, _ := u.session(r)
	v := View{Title: title, Error: msg}
	if status < 400 {
		v.Error, v.Notice = "", msg
	}
	u.render(w, r, messageTmpl, s, status, v)
}
