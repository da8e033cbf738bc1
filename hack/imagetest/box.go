package imagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/health"
)

// Box talks to a booted box through the host forwards.
type Box struct {
	API      string // e.g. http://127.0.0.1:40123 (oepcd's local API)
	Token    string // bearer token of the local API
	Gokrazy  string // e.g. http://127.0.0.1:40124 (gokrazy's web interface)
	Password string // gokrazy's password (user "gokrazy")
}

// RequestTimeout bounds every single request to the box.
const RequestTimeout = 10 * time.Second

var client = &http.Client{Timeout: RequestTimeout}

// HTTPError is a non-2xx answer.
type HTTPError struct {
	Code int
	Body string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

func (b *Box) do(ctx context.Context, method, base, path string, body io.Reader, auth func(*http.Request)) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, err
	}
	auth(req)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return data, &HTTPError{resp.StatusCode, strings.TrimSpace(string(data[:min(len(data), 300)]))}
	}
	return data, nil
}

// APICall calls oepcd's local API with the bearer token.
func (b *Box) APICall(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	return b.do(ctx, method, b.API, path, r, func(req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+b.Token)
	})
}

// Status is the part of GET /v1/status the tests look at.
type Status struct {
	Version string `json:"version"`
	PeerID  string `json:"peer_id"`
	Network struct {
		Joined    bool   `json:"joined"`
		Bootstrap string `json:"bootstrap"`
		Peers     []struct {
			ID      string `json:"id"`
			Relayed bool   `json:"relayed"`
		} `json:"peers"`
	} `json:"network"`
}

// HasPeer reports whether the box is connected to peer id.
func (s Status) HasPeer(id string) bool {
	for _, p := range s.Network.Peers {
		if p.ID == id {
			return true
		}
	}
	return false
}

// Status is GET /v1/status.
func (b *Box) Status(ctx context.Context) (Status, error) {
	var st Status
	data, err := b.APICall(ctx, http.MethodGet, "/v1/status", nil)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("/v1/status: %w: %s", err, data)
	}
	if st.Version == "" || st.PeerID == "" {
		return st, fmt.Errorf("/v1/status lacks version or peer_id: %s", data)
	}
	return st, nil
}

// Health is GET /v1/health: the reports of every program of the box. It
// accepts a JSON list of reports or an object with one list-of-reports
// field (e.g. {"healthy":true,"reports":[...]}).
func (b *Box) Health(ctx context.Context) ([]health.Report, error) {
	data, err := b.APICall(ctx, http.MethodGet, "/v1/health", nil)
	if err != nil {
		return nil, err
	}
	return parseHealth(data)
}

func parseHealth(data []byte) ([]health.Report, error) {
	var reps []health.Report
	if json.Unmarshal(data, &reps) == nil && len(reps) > 0 {
		return reps, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("/v1/health: %w: %s", err, data)
	}
	for _, v := range obj {
		var r []health.Report
		if json.Unmarshal(v, &r) == nil && len(r) > 0 && r[0].Name != "" && r[0].Status != "" {
			return r, nil
		}
	}
	return nil, fmt.Errorf("/v1/health has no list of reports: %s", data)
}

func (b *Box) gokrazyAuth(req *http.Request) { req.SetBasicAuth("gokrazy", b.Password) }

// Reboot asks gokrazy to stop every service, unmount /perm and reboot.
func (b *Box) Reboot(ctx context.Context) error {
	_, err := b.do(ctx, http.MethodPost, b.Gokrazy, "/reboot", strings.NewReader(url.Values{}.Encode()), func(req *http.Request) {
		b.gokrazyAuth(req)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	})
	return err
}

// GokrazyUp reports whether gokrazy's web interface answers.
func (b *Box) GokrazyUp(ctx context.Context) error {
	_, err := b.do(ctx, http.MethodGet, b.Gokrazy, "/", nil, b.gokrazyAuth)
	return err
}

var rssRE = regexp.MustCompile(`title="(\S+) uses ([0-9.]+) MiB RSS"`)

// ServiceRSS reads the resident set size of every process gokrazy
// supervises (init included) from its status page, in bytes.
func (b *Box) ServiceRSS(ctx context.Context) (map[string]int64, error) {
	data, err := b.do(ctx, http.MethodGet, b.Gokrazy, "/", nil, b.gokrazyAuth)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, m := range rssRE.FindAllStringSubmatch(string(data), -1) {
		mib, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		out[m[1]] = int64(mib * (1 << 20))
	}
	if len(out) == 0 {
		return nil, errors.New("gokrazy's status page lists no RSS figures (has its format changed?)")
	}
	return out, nil
}

// WaitFor calls f every interval until it returns nil or timeout passes;
// then it returns f's last error.
func WaitFor(ctx context.Context, timeout, interval time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = f(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %v: %w", timeout, last)
		case <-time.After(interval):
		}
	}
}

// ServiceLog returns the recent stderr of one supervised program, read
// from gokrazy's log stream for at most two seconds.
func (b *Box) ServiceLog(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.Gokrazy+"/log?stream=stderr&path="+url.QueryEscape(path), nil)
	if err != nil {
		return "", err
	}
	b.gokrazyAuth(req)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", &HTTPError{resp.StatusCode, resp.Status}
	}
	// The stream never ends; what arrived before the deadline is the log.
	data, _ := io.ReadAll(resp.Body)
	return string(data), nil
}
