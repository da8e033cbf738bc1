package homeapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to homed's API: directly on its unix socket (NewUnix) or
// through oepcd's proxy (New, with the box's API token).
type Client struct {
	base  string
	token string
	hc    *http.Client
	// Timeout bounds every call but the event stream. Default 30 s (a
	// command waits for the device's ACK; an X10 scene takes seconds).
	Timeout time.Duration
}

// New returns a client of the API at base (e.g. "http://127.0.0.1:8080"),
// sending token as a bearer token when it is not empty. hc nil: a client
// with no overall timeout (each call has its own deadline).
func New(base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, hc: hc, Timeout: 30 * time.Second}
}

// NewUnix returns a client of homed's unix socket.
func NewUnix(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second,
	}
	return New("http://homed", "", &http.Client{Transport: tr})
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("homed: %s (HTTP %d)", e.Message, e.Status) }

// IsNotFound says whether err is a 404 answer.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("homed: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("homed: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("homed: %s %s: bad answer: %w", method, path, err)
		}
	}
	return nil
}

func esc(name string) string { return url.PathEscape(name) }

// Devices lists every device with its state.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var ds []Device
	return ds, c.do(ctx, "GET", Prefix+"devices", nil, &ds)
}

// Device returns one device.
func (c *Client) Device(ctx context.Context, name string) (Device, error) {
	var d Device
	return d, c.do(ctx, "GET", Prefix+"devices/"+esc(name), nil, &d)
}

// PutDevice adds or changes a device (its state is kept).
func (c *Client) PutDevice(ctx context.Context, d Device) (Device, error) {
	var out Device
	return out, c.do(ctx, "PUT", Prefix+"devices/"+esc(d.Name), d, &out)
}

// DeleteDevice removes a device.
func (c *Client) DeleteDevice(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", Prefix+"devices/"+esc(name), nil, nil)
}

func (c *Client) command(ctx context.Context, name, op string, in any) (Device, error) {
	var d Device
	return d, c.do(ctx, "POST", Prefix+"devices/"+esc(name)+"/"+op, in, &d)
}

// On switches a device on and returns it after the device's ACK.
func (c *Client) On(ctx context.Context, name string) (Device, error) {
	return c.command(ctx, name, "on", nil)
}

// Off switches a device off.
func (c *Client) Off(ctx context.Context, name string) (Device, error) {
	return c.command(ctx, name, "off", nil)
}

// Dim sets a device's level (0-255).
func (c *Client) Dim(ctx context.Context, name string, level int) (Device, error) {
	return c.command(ctx, name, "dim", DimRequest{Level: level})
}

// Status asks the device for its level.
func (c *Client) Status(ctx context.Context, name string) (Device, error) {
	return c.command(ctx, name, "status", nil)
}

// Scenes lists the scenes.
func (c *Client) Scenes(ctx context.Context) ([]Scene, error) {
	var s []Scene
	return s, c.do(ctx, "GET", Prefix+"scenes", nil, &s)
}

// PutScene adds or changes a scene.
func (c *Client) PutScene(ctx context.Context, s Scene) (Scene, error) {
	var out Scene
	return out, c.do(ctx, "PUT", Prefix+"scenes/"+esc(s.Name), s, &out)
}

// DeleteScene removes a scene.
func (c *Client) DeleteScene(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", Prefix+"scenes/"+esc(name), nil, nil)
}

// RemoveScene removes a scene. When its members are linked into its
// ALL-Link group, homed unlinks them first and returns the scene, marked
// Removing (it disappears once they are unlinked); nil: it is gone. force
// removes it at once, leaving the links as they are.
func (c *Client) RemoveScene(ctx context.Context, name string, force bool) (*Scene, error) {
	q := ""
	if force {
		q = "?force=1"
	}
	var out *Scene
	return out, c.do(ctx, "DELETE", Prefix+"scenes/"+esc(name)+q, nil, &out)
}

// LinkScene (re)links the members of a scene's ALL-Link group that are
// not linked (failed, or never tried) and returns the scene; the links
// complete in the background (Scene.Links, EventLink events).
func (c *Client) LinkScene(ctx context.Context, name string) (Scene, error) {
	var out Scene
	return out, c.do(ctx, "POST", Prefix+"scenes/"+esc(name)+"/link", nil, &out)
}

// FireScene fires a scene on or off and returns its members after.
func (c *Client) FireScene(ctx context.Context, name string, on bool) ([]Device, error) {
	op := "off"
	if on {
		op = "on"
	}
	var ds []Device
	return ds, c.do(ctx, "POST", Prefix+"scenes/"+esc(name)+"/"+op, nil, &ds)
}

// Schedules lists the schedules with their next firing.
func (c *Client) Schedules(ctx context.Context) ([]Schedule, error) {
	var s []Schedule
	return s, c.do(ctx, "GET", Prefix+"schedules", nil, &s)
}

// PutSchedule adds or changes a schedule.
func (c *Client) PutSchedule(ctx context.Context, s Schedule) (Schedule, error) {
	var out Schedule
	return out, c.do(ctx, "PUT", Prefix+"schedules/"+esc(s.Name), s, &out)
}

// DeleteSchedule removes a schedule.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", Prefix+"schedules/"+esc(name), nil, nil)
}

// Settings returns the owner's settings.
func (c *Client) Settings(ctx context.Context) (Settings, error) {
	var s Settings
	return s, c.do(ctx, "GET", Prefix+"settings", nil, &s)
}

// PutSettings changes the owner's settings.
func (c *Client) PutSettings(ctx context.Context, s Settings) (Settings, error) {
	var out Settings
	return out, c.do(ctx, "PUT", Prefix+"settings", s, &out)
}

// Modems lists the configured modems and whether each is present.
func (c *Client) Modems(ctx context.Context) ([]Modem, error) {
	var m []Modem
	return m, c.do(ctx, "GET", Prefix+"modems", nil, &m)
}

// EventStream is an open event stream: homed has the subscription once
// OpenEvents returns, so no event after that is missed.
type EventStream struct {
	body io.ReadCloser
	sc   *bufio.Scanner
	ctx  context.Context
}

// OpenEvents subscribes to the event stream (server-sent events). Close it
// when done; ctx bounds its whole life.
func (c *Client) OpenEvents(ctx context.Context) (*EventStream, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+Prefix+"events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("homed: events: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), 64<<10)
	return &EventStream{body: resp.Body, sc: sc, ctx: ctx}, nil
}

// Next waits for the next event.
func (s *EventStream) Next() (Event, error) {
	for s.sc.Scan() {
		data, ok := strings.CutPrefix(s.sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return e, fmt.Errorf("homed: events: bad event %q: %w", data, err)
		}
		return e, nil
	}
	if err := s.ctx.Err(); err != nil {
		return Event{}, err
	}
	if err := s.sc.Err(); err != nil {
		return Event{}, fmt.Errorf("homed: events: %w", err)
	}
	return Event{}, errors.New("homed: events: the stream ended")
}

// Close ends the subscription.
func (s *EventStream) Close() error { return s.body.Close() }

// Events follows the event stream and calls fn for each event until ctx
// ends, fn returns an error, or the stream breaks.
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	s, err := c.OpenEvents(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		e, err := s.Next()
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
