package cloudapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"oepc.dev/oepcos/packages/cloud"
	"oepc.dev/oepcos/packages/cloud/index"
)

func TestAPI(t *testing.T) {
	e := newEnv(t, 6, func(c *cloud.Config) { c.Owner = nil })
	srv := httptest.NewServer(Handler(e.s))
	defer srv.Close()
	call := func(method, path string, body io.Reader, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		return b
	}
	jsonBody := func(v any) io.Reader { b, _ := json.Marshal(v); return bytes.NewReader(b) }

	// No key yet: a put is refused with a clear error.
	b := call("POST", "/v1/cloud/put?path=/a", strings.NewReader("x"), http.StatusPreconditionFailed)
	if !strings.Contains(string(b), "setup") {
		t.Fatalf("%s", b)
	}
	var setup map[string]string
	json.Unmarshal(call("POST", "/v1/cloud/setup", nil, 200), &setup)
	if len(strings.Fields(setup["phrase"])) != 17 {
		t.Fatal(setup)
	}
	call("POST", "/v1/cloud/setup", nil, http.StatusConflict)

	data := randBytes(3*seg + 5)
	var ent index.Entry
	json.Unmarshal(call("POST", "/v1/cloud/put?path=/docs/a.bin", bytes.NewReader(data), 200), &ent)
	if ent.Size != int64(len(data)) || ent.K != 4 {
		t.Fatal(ent)
	}
	call("POST", "/v1/cloud/put?path=/docs/b.bin&k=3&m=1", strings.NewReader("bee"), 200)
	call("POST", "/v1/cloud/put?path=/docs/c.bin&k=3", strings.NewReader("bee"), 400)
	call("POST", "/v1/cloud/put?path=/docs/c.bin&k=5&m=3", strings.NewReader("bee"), http.StatusPreconditionFailed)
	call("POST", "/v1/cloud/put?path=/docs/c.bin&k=5&m=3&force=1", strings.NewReader("bee"), 200)

	if got := call("GET", "/v1/cloud/get?path=/docs/a.bin", nil, 200); !bytes.Equal(got, data) {
		t.Fatal("get differs")
	}
	if got := call("GET", "/v1/cloud/get?id="+ent.File.String(), nil, 200); !bytes.Equal(got, data) {
		t.Fatal("get by id differs")
	}
	call("GET", "/v1/cloud/get?path=/nope", nil, 404)
	call("POST", "/v1/cloud/put?path=/e", strings.NewReader(""), 200)
	if got := call("GET", "/v1/cloud/get?path=/e", nil, 200); len(got) != 0 {
		t.Fatal("empty file")
	}

	var ls struct {
		Items []index.Item `json:"items"`
	}
	json.Unmarshal(call("GET", "/v1/cloud/ls?dir=/docs", nil, 200), &ls)
	if len(ls.Items) != 3 {
		t.Fatal(ls)
	}
	call("POST", "/v1/cloud/mkdir", jsonBody(map[string]string{"path": "/old"}), 200)
	call("POST", "/v1/cloud/mv", jsonBody(map[string]string{"from": "/docs/b.bin", "to": "/old"}), 200)
	call("GET", "/v1/cloud/stat?path=/old/b.bin", nil, 200)
	call("POST", "/v1/cloud/mv", jsonBody(map[string]string{"from": "/nope", "to": "/x"}), 404)
	call("POST", "/v1/cloud/rm", jsonBody(map[string]any{"path": "/old"}), 409)
	call("POST", "/v1/cloud/rm", jsonBody(map[string]any{"path": "/old", "recursive": true}), 200)
	call("POST", "/v1/cloud/rm", jsonBody(map[string]any{"path": "/old", "bogus": 1}), 400)

	var h cloud.Health
	json.Unmarshal(call("GET", "/v1/cloud/health?path=/docs/a.bin", nil, 200), &h)
	if !h.Complete || len(h.Segments) != 4 {
		t.Fatalf("%+v", h)
	}
	e.f.Set(func() { e.f.Down[e.peers[0]] = true })
	json.Unmarshal(call("GET", "/v1/cloud/health?ref="+url.QueryEscape(ent.File.String()), nil, 200), &h)
	if h.Complete || !h.Readable {
		t.Fatalf("%+v", h)
	}
	var rep cloud.RepairReport
	json.Unmarshal(call("POST", "/v1/cloud/repair", jsonBody(map[string]string{"path": "/docs/a.bin"}), 200), &rep)
	// One box away, within the grace period: nothing is re-placed yet.
	if rep.Repaired != 0 || rep.Failed != 0 {
		t.Fatalf("%+v", rep)
	}
	var st cloud.Status
	json.Unmarshal(call("GET", "/v1/cloud/status", nil, 200), &st)
	if !st.OwnerKey || st.Files != 3 {
		t.Fatalf("%+v", st)
	}
	call("GET", "/v1/cloud/hosted", nil, 200)
	call("POST", "/v1/send?friend=nobody", strings.NewReader("x"), 404)
	call("POST", "/v1/cloud/recover", jsonBody(map[string]string{"phrase": "babab"}), 400)
	call("POST", "/v1/cloud/put?path=/a/../b", strings.NewReader("x"), 400)
}

// TestAPIGetAbortsMidStream: a get that fails after the first bytes must
// not look like a whole (short) file to the client.
func TestAPIGetAbortsMidStream(t *testing.T) {
	e := newEnv(t, 6, func(c *cloud.Config) { c.InFlight = 1 })
	data := randBytes(40 * seg)
	e.put(t, "/f", data, cloud.PutOptions{})
	man, _ := e.s.Manifest("/f")
	// Make the last segment unreadable.
	last := man.Segments[len(man.Segments)-1]
	e.f.Set(func() {
		for _, r := range last.Shards[:3] {
			delete(e.f.Boxes[r.Holder], r.ID)
		}
	})
	srv := httptest.NewServer(Handler(e.s))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/cloud/get?path=/f")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && len(b) == len(data) {
		t.Fatal("a failed get looked complete")
	}
	if err == nil {
		t.Fatalf("no error after %d of %d bytes", len(b), len(data))
	}
}
