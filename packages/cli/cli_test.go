package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, srv *httptest.Server, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		switch k {
		case "OEPC_BOX":
			if srv != nil {
				return srv.URL
			}
		case "OEPC_TOKEN":
			return "tok"
		}
		return ""
	}}
	code := Main(context.Background(), args, env)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nonsense"}, {"friends"}, {"friends", "accept"}, {"friends", "rename", "x"}, {"status", "--bogus"}} {
		code, _, errs := run(t, nil, args...)
		if code != 2 || errs == "" {
			t.Errorf("oepc %q: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
	if code, out, _ := run(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "oepc ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestErrorsFromTheBox(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("token not sent: %q", r.Header.Get("Authorization"))
		}
		w.WriteHeader(http.StatusGone)
		w.Write([]byte(`{"error":"friends: invite expired"}`))
	}))
	defer srv.Close()
	code, _, errs := run(t, srv, "friends", "accept", "ABCD-EFGH-JKMN")
	if code != 1 || !strings.Contains(errs, "invite expired") || !strings.Contains(errs, "410") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	srv.Close()
	code, _, errs = run(t, srv, "status")
	if code != 1 || !strings.Contains(errs, "cannot reach the box") {
		t.Fatalf("unreachable box: exit %d, stderr %q", code, errs)
	}
}

func TestFlagsAnywhere(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	if code, out, errs := run(t, srv, "friends", "ls", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("friends ls --json: %d %q %q", code, out, errs)
	}
	if code, _, errs := run(t, srv, "friends", "rm", "a friend/with slash"); code != 0 {
		t.Fatalf("rm: %d %q", code, errs)
	}
	if want := "DELETE /v1/friends/a friend/with slash"; got[len(got)-1] != want {
		t.Fatalf("request %q, want %q", got[len(got)-1], want)
	}
}

// cloud health names holders: the friend's name, "this box" for the box
// itself, the peer ID only when there is no name (issue 9, item 16).
func TestCloudHealthNames(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":"00112233445566778899aabbccddeeff","path":"/a","size":10,"k":1,"m":2,"min_healthy":3,"readable":true,"complete":true,
			"segments":[{"index":0,"healthy":3,"shards":[
			{"index":0,"id":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","holder":"12D3KooWD6QFDvjgr2wdsbp2gwDYqCDbT96nhPac1htbQ3HtmBca","name":"this box","state":"ok"},
			{"index":1,"id":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","holder":"12D3KooWL9S4syToZ2ehvxgCXhaDw254jr4dcsE3MvhHBqJrgFAJ","name":"alice","state":"ok"},
			{"index":2,"id":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","holder":"12D3KooWHAmqTftAyBfeQFMq8Gbfmoj6KZG2YcTbjAizp3C8ERtG","state":"ok"}]}]}`))
	}))
	defer srv.Close()
	code, out, errs := run(t, srv, "cloud", "health", "/a")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(out, "\n")
	for i, want := range []string{"this box", "alice", "12D3KooWHAmqTftAyBfeQFMq8Gbfmoj6KZG2YcTbjAizp3C8ERtG"} {
		if l := lines[2+i]; !strings.Contains(l, want) {
			t.Errorf("shard %d: %q, want the holder shown as %q", i, l, want)
		}
	}
	if strings.Contains(out, "12D3KooWD6QFDvjgr2wdsbp2gwDYqCDbT96nhPac1htbQ3HtmBca") {
		t.Errorf("this box shown by its peer ID:\n%s", out)
	}
}

// The token must never be printed: `oepc --help` once showed OEPC_TOKEN
// as the --token flag's default.
func TestHelpDoesNotPrintToken(t *testing.T) {
	const secret = "s3cret-9f2c41d7"
	for _, args := range [][]string{{"--help"}, {"-h"}, {}, {"--bogus"}} {
		var out, errb bytes.Buffer
		env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			if k == "OEPC_TOKEN" {
				return secret
			}
			return ""
		}}
		code := Main(context.Background(), args, env)
		if strings.Contains(out.String()+errb.String(), secret) {
			t.Errorf("oepc %q (exit %d) printed the token:\n%s%s", args, code, out.String(), errb.String())
		}
		if !strings.Contains(errb.String(), "OEPC_TOKEN") {
			t.Errorf("oepc %q: usage does not mention OEPC_TOKEN:\n%s", args, errb.String())
		}
	}
}

// The token still comes from OEPC_TOKEN; --token and --token-file win
// over it.
func TestTokenFromEnvAndFlag(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	if code, _, errs := run(t, srv, "friends", "ls", "--json"); code != 0 {
		t.Fatalf("friends ls: %d %q", code, errs)
	}
	if code, _, errs := run(t, srv, "--token", "other", "friends", "ls", "--json"); code != 0 {
		t.Fatalf("friends ls: %d %q", code, errs)
	}
	// A token file named on the command line wins over OEPC_TOKEN.
	file := filepath.Join(t.TempDir(), "api.token")
	if err := os.WriteFile(file, []byte("fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(t, srv, "--token-file", file, "friends", "ls", "--json"); code != 0 {
		t.Fatalf("friends ls: %d %q", code, errs)
	}
	if want := []string{"Bearer tok", "Bearer other", "Bearer fromfile"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sent %q, want %q", got, want)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "1GiB": 1 << 30, "1.5 GiB": 3 << 29, "500MB": 500e6, "2g": 2 << 30, "10 KiB": 10 << 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1 XB", "GiB", "1e30"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestReceivedQuota(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/cloud/received/quota":
			b := new(bytes.Buffer)
			b.ReadFrom(r.Body)
			got = b.String()
			w.Write([]byte(`{"friend":"x","quota":2147483648}`))
		case "/v1/cloud/received":
			w.Write([]byte(`{"default_quota":1073741824,"friends":[{"friend":"12D3KooWGRUVh7Mf8N4mnRY5URGRbjBk5gnStL6T5bCJbSXoDzTL","quota":2147483648,"own_quota":true,"pending_files":2,"pending_bytes":1048576}]}`))
		case "/v1/friends":
			w.Write([]byte(`[{"id":"12D3KooWGRUVh7Mf8N4mnRY5URGRbjBk5gnStL6T5bCJbSXoDzTL","name":"alice"}]`))
		}
	}))
	defer srv.Close()
	code, out, errs := run(t, srv, "cloud", "received-quota", "alice", "2GiB")
	var sent map[string]any
	json.Unmarshal([]byte(got), &sent)
	if code != 0 || len(sent) != 2 || sent["bytes"] != float64(2<<30) || sent["friend"] != "alice" || !strings.Contains(out, "alice may have 2 GiB") {
		t.Fatalf("exit %d, sent %s, out %q, err %q", code, got, out, errs)
	}
	if code, _, _ := run(t, srv, "cloud", "received-quota", "default"); code != 2 {
		t.Fatalf("default without a friend: exit %d", code)
	}
	code, out, _ = run(t, srv, "cloud", "received")
	if code != 0 || !strings.Contains(out, "each friend may have 1 GiB") || !strings.Contains(out, "alice") || !strings.Contains(out, "2 files, 1 MiB") {
		t.Fatalf("exit %d, out %q", code, out)
	}
}
