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

// PasswordFiles are where gokrazy looks for its web interface password,
// in its order (gokrazy's readConfigFile): the box's own in /perm, then the
// one the image build put into the root file system.
var PasswordFiles = []string{"/perm/gokr-pw.txt", "/etc/gokr-pw.txt", "/gokr-pw.txt"}

// GokrazyPassword returns the password gokrazy runs with. gokrazy reads its
// password once, at boot, from the first of PasswordFiles that exists, so
// a password written to /perm during this boot is not in use yet: each
// candidate is tried against gokrazy's socket, in gokrazy's order, and the
// first one it accepts is returned.
func GokrazyPassword(ctx context.Context, socket string, files ...string) (string, error) {
	if len(files) == 0 {
		files = PasswordFiles
	}
	var tried []string
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		pw := strings.TrimSpace(string(b))
		ok, err := GokrazyAccepts(ctx, socket, pw)
		if err != nil {
			return "", err
		}
		if ok {
			return pw, nil
		}
		tried = append(tried, p)
	}
	if len(tried) == 0 {
		return "", fmt.Errorf("gokrazy password not found in %s", strings.Join(files, ", "))
	}
	return "", fmt.Errorf("gokrazy accepts none of the passwords in %s", strings.Join(tried, ", "))
}

// GokrazyAccepts asks gokrazy over its socket whether it accepts password
// (GET /update/features, which needs it). It retries for up to 30 s while
// the socket does not answer (early in a boot).
func GokrazyAccepts(ctx context.Context, socket, password string) (bool, error) {
	c := socketClient(socket)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://gokrazy/update/features", nil)
		if err != nil {
			return false, err
		}
		req.SetBasicAuth("gokrazy", password)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return true, nil
			case http.StatusUnauthorized:
				return false, nil
			}
			return false, fmt.Errorf("gokrazy /update/features: HTTP %d", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("gokrazy socket %s: %w", socket, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func socketClient(socket string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// GokrazyReboot returns a Reboot that asks gokrazy, over its socket, to
// stop every service, unmount /perm and reboot (asynchronously: gokrazy
// stops the caller too).
func GokrazyReboot(socket string, password func(context.Context) (string, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		pw, err := password(ctx)
		if err != nil {
			return err
		}
		return gokrazyPost(ctx, socketClient(socket), pw, "/reboot?async=true")
	}
}

func gokrazyPost(ctx context.Context, c *http.Client, password, path string) error {
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

// GokrazyRollback returns a Rollback that asks gokrazy, over its unix
// socket, to point the boot at the inactive root partition (POST
// /update/switch: the one the box ran before the update) and to reboot.
func GokrazyRollback(socket, password string) func(context.Context) error {
	c := socketClient(socket)
	return func(ctx context.Context) error {
		if err := gokrazyPost(ctx, c, password, "/update/switch"); err != nil {
			return err
		}
		return gokrazyPost(ctx, c, password, "/reboot")
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
