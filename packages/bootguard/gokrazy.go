package bootguard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/health"
)

// GokrazySocket is where gokrazy serves its web interface to local
// programs.
const GokrazySocket = "/run/gokrazy-http.sock"

// GokrazyPassword reads gokrazy's web interface password the way gokrazy
// does: /etc/gokr-pw.txt (put there by the image build), else
// /perm/gokr-pw.txt.
func GokrazyPassword() (string, error) {
	for _, p := range []string{"/etc/gokr-pw.txt", "/perm/gokr-pw.txt"} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", fmt.Errorf("gokrazy password not found in /etc/gokr-pw.txt or /perm/gokr-pw.txt")
}

// GokrazyRollback returns a Rollback that asks gokrazy, over its unix
// socket, to point the boot at the inactive root partition (POST
// /update/switch: the one the box ran before the update) and to reboot.
func GokrazyRollback(socket, password string) func(context.Context) error {
	c := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
	post := func(ctx context.Context, path string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://gokrazy"+path, nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth("gokrazy", password)
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("gokrazy %s: %w", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("gokrazy %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil
	}
	return func(ctx context.Context) error {
		if err := post(ctx, "/update/switch"); err != nil {
			return err
		}
		return post(ctx, "/reboot")
	}
}

// APICheck returns a Check that asks oepcd's local API for /v1/health
// (with the token in tokenFile, read at every check) and passes when it
// answers 200 with every program reported and none in "error".
func APICheck(url, tokenFile string, want []string) func(context.Context) error {
	c := &http.Client{Timeout: 10 * time.Second}
	return func(ctx context.Context) error {
		tok, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("API token: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
		}
		reps, err := ParseReports(body)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, r := range reps {
			seen[r.Name] = true
			if r.Status == health.Error {
				return fmt.Errorf("%s: error: %s", r.Name, r.Detail)
			}
		}
		for _, n := range want {
			if !seen[n] {
				return fmt.Errorf("%s does not report", n)
			}
		}
		return nil
	}
}

// ParseReports reads a health answer: a JSON list of reports, or an object
// with one field holding that list.
func ParseReports(data []byte) ([]health.Report, error) {
	var reps []health.Report
	if json.Unmarshal(data, &reps) == nil && len(reps) > 0 {
		return reps, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("health answer: %w", err)
	}
	for _, v := range obj {
		var r []health.Report
		if json.Unmarshal(v, &r) == nil && len(r) > 0 && r[0].Name != "" && r[0].Status != "" {
			return r, nil
		}
	}
	return nil, fmt.Errorf("health answer has no list of reports")
}
