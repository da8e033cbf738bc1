package webui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oepc.dev/oepcos/packages/ota"
	"oepc.dev/oepcos/packages/ota/otatest"
)

var smallLayout = ota.Layout{BootOffset: 64 << 10, BootSize: 1 << 20, RootOffset: 64<<10 + 1<<20, RootSize: 4 << 20}

func withOTA(t *testing.T, e *env) *otatest.Gokrazy {
	t.Helper()
	g := &otatest.Gokrazy{Dir: t.TempDir(), Password: "gokrazy-pw"}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	up, err := ota.New(ota.Config{Target: ota.URL(srv.URL+"/", srv.Client(), func(context.Context) (string, error) { return "gokrazy-pw", nil }),
		SpoolDir: t.TempDir(), Layout: smallLayout, Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	e.ui.cfg.OTA = up
	return g
}

func (e *env) upload(c *http.Client, ct string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/system/update", body)
	req.Header.Set("Content-Type", ct)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestOTAUpload(t *testing.T) {
	e := newEnv(t)
	g := withOTA(t, e)
	c := e.owner()
	im, err := otatest.WriteImage(filepath.Join(t.TempDir(), "oepc-amd64.img"), smallLayout, "amd64", 2<<20+7)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(im.Path)

	if _, body := e.get(c, "/system"); !strings.Contains(body, `id="ota-form"`) || !strings.Contains(body, "oepc-amd64.img") {
		t.Fatalf("the System page has no update form:\n%s", body)
	}

	// Refused: signed out, cross-site, a wrong file.
	if resp, _ := e.upload(e.client(), "application/octet-stream", bytes.NewReader(raw), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out: %d", resp.StatusCode)
	}
	if resp, _ := e.upload(c, "application/octet-stream", bytes.NewReader(raw), map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: %d", resp.StatusCode)
	}
	if resp, body := e.upload(c, "application/octet-stream", strings.NewReader(strings.Repeat("not an image ", 200000)), nil); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not a disk image") {
		t.Errorf("a text file: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.upload(c, "text/plain", bytes.NewReader(raw), nil); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d %s", resp.StatusCode, body)
	}
	if len(g.Calls()) != 0 {
		t.Fatalf("a refused upload reached gokrazy: %v", g.Calls())
	}

	// The raw upload of ota.js.
	resp, body := e.upload(c, "application/octet-stream", bytes.NewReader(raw), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var ans struct {
		ota.Progress
		Message string
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil || ans.State != "rebooting" || !strings.Contains(ans.Message, "rebooting") {
		t.Fatalf("answer %s (%v)", body, err)
	}
	for part, want := range map[string][]byte{"root": im.Root, "boot": im.Boot, "mbr": im.MBR} {
		got, _ := os.ReadFile(filepath.Join(g.Dir, part))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes written, want the image's %d", part, len(got), len(want))
		}
	}
	if !g.Switched() || g.Reboots() != 1 {
		t.Errorf("switched %v, reboots %d", g.Switched(), g.Reboots())
	}
	_, st := e.get(c, "/system/update/status")
	if !strings.Contains(st, `"state":"rebooting"`) {
		t.Errorf("status %s", st)
	}

	// The form without JavaScript (multipart).
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("image", "oepc-amd64.img")
	fw.Write(raw)
	mw.Close()
	resp, body = e.upload(c, mw.FormDataContentType(), &mp, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The update is written") {
		t.Fatalf("form upload: %d %s", resp.StatusCode, body)
	}
	if g.Reboots() != 2 {
		t.Errorf("reboots %d after the form upload", g.Reboots())
	}
}

func TestOTAMemberAndDevnet(t *testing.T) {
	e := newEnv(t)
	c := e.owner()
	// No OTA (the devnet): the page says so, the POST is refused.
	if _, body := e.get(c, "/system"); !strings.Contains(body, "only available on the box") {
		t.Errorf("the devnet's System page does not say OTA is unavailable")
	}
	if resp, body := e.upload(c, "application/octet-stream", strings.NewReader("x"), nil); resp.StatusCode != http.StatusNotImplemented || !strings.Contains(body, "only available on the box") {
		t.Errorf("devnet upload: %d %s", resp.StatusCode, body)
	}
	g := withOTA(t, e)
	tok, _, err := e.ui.Auth().NewSession(RoleMember, "10.0.0.9", "phone")
	if err != nil {
		t.Fatal(err)
	}
	m := e.client()
	u, _ := url.Parse(e.srv.URL)
	m.Jar.SetCookies(u, []*http.Cookie{{Name: "oepc_session", Value: tok}})
	if resp, _ := e.upload(m, "application/octet-stream", strings.NewReader("x"), nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member upload: %d", resp.StatusCode)
	}
	if resp, _ := e.get(m, "/system/update/status"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member status: %d", resp.StatusCode)
	}
	if len(g.Calls()) != 0 {
		t.Errorf("gokrazy called: %v", g.Calls())
	}
}
