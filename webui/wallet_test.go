package webui

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"oepc.dev/oepcos/packages/apitype"
)

// envWith is a UI in front of the handler api (bearer token tok).
func envWith(t *testing.T, api http.Handler, tok string) *env {
	t.Helper()
	dir := t.TempDir()
	logs := NewLogRing(100)
	ui, err := New(Config{DataDir: filepath.Join(dir, "webui"), PairingFile: filepath.Join(dir, "pairing.code"), API: api, Token: tok,
		Name: "box1", Logs: logs, FailDelay: 10 * time.Millisecond, Logger: slog.New(logs.Handler(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui)
	t.Cleanup(func() { ui.Close(); srv.Close() })
	return &env{t: t, ui: ui, srv: srv, dir: dir, logs: logs}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

const walletAddr = "00112233445566778899aabbccddeeff00112233"
const otherAddr = "ffeeddccbbaa99887766554433221100ffeeddcc"

// fakeWallet is the wallet routes of walletapi, canned, recording sends.
type fakeWallet struct {
	off   string
	mu    sync.Mutex
	sends []apitype.WalletSendRequest
}

func (f *fakeWallet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.off != "" && strings.HasPrefix(r.URL.Path, "/v1/") {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": f.off})
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /v1/chain/status":
		writeJSON(w, 200, apitype.ChainStatus{ChainID: "oe-test", VerifiedHeight: 120, VerifiedTime: time.Now(), Latest: 122, Lag: 2,
			Primary: "12D3KooWprimary", Witnesses: []apitype.PeerID{"12D3KooWwitness1", "12D3KooWwitness2"},
			Stalled: "no new verified header for 40s: the super nodes are not making blocks"})
	case "GET /v1/wallet":
		writeJSON(w, 200, apitype.WalletAnswer{Address: walletAddr, Balance: 2_500_000, Nonce: 1, Exists: true, Height: 118})
	case "GET /v1/wallet/history":
		writeJSON(w, 200, apitype.WalletHistoryAnswer{Address: walletAddr, Total: 2, Height: 118, Items: []apitype.WalletHistoryItem{
			{Height: 90, Direction: "sent", Type: "delegate", To: otherAddr, Amount: 10, Fee: 4, Code: 9, Reason: "no such candidate"},
			{Height: 50, Direction: "received", Type: "transfer", From: otherAddr, To: walletAddr, Amount: 3_000_000, Fee: 1},
		}})
	case "GET /v1/chain/supernodes":
		writeJSON(w, 200, apitype.ChainSuperNodesAnswer{Height: 118, RewardPerBlock: 10_000_000, MinFee: 1, SuperNodes: []apitype.ChainSuperNode{
			{Operator: otherAddr, Moniker: "sn-0", Power: 1000, Stake: 1000_000_000, Balance: 55_000_000}}})
	case "POST /v1/wallet/send":
		var req apitype.WalletSendRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.sends = append(f.sends, req)
		f.mu.Unlock()
		writeJSON(w, 200, apitype.WalletSendAnswer{Hash: "ab12", Height: 123, Nonce: 1})
	default:
		writeJSON(w, 404, map[string]string{"error": "no route"})
	}
}

func TestWalletPageOff(t *testing.T) {
	e := envWith(t, &fakeWallet{off: "the light node is not running: oepcd runs without --chain-genesis"}, "tok")
	c := e.owner()
	resp, body := e.get(c, "/wallet")
	if resp.StatusCode != 200 || !strings.Contains(body, "Light node not running") || !strings.Contains(body, "runs without --chain-genesis") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, `id="send-form"`) {
		t.Fatal("a send form without a light node")
	}
}

func TestWalletPage(t *testing.T) {
	f := &fakeWallet{}
	e := envWith(t, f, "tok")
	c := e.owner()
	resp, body := e.get(c, "/wallet")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"2.500000 OEC", walletAddr, "block 118", `id="send-form"`, "no such candidate", "+3.000000",
		"120", "2 blocks behind", "12D3KooWwitness2", "the super nodes are not making blocks", "sn-0", "1000.000000", "55.000000", "10.000000 OEC per block", `aria-current="page"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Bad input says what is wrong and sends nothing.
	for _, form := range []url.Values{
		{"do": {"review"}, "to": {"xyz"}, "amount": {"1"}},
		{"do": {"review"}, "to": {otherAddr}, "amount": {"1.0000001"}},
		{"do": {"review"}, "to": {otherAddr}, "amount": {"-1"}},
		{"do": {"review"}, "to": {otherAddr}, "amount": {"3"}},
		{"do": {"review"}, "to": {walletAddr}, "amount": {"1"}},
		{"do": {"send"}, "to": {otherAddr}, "amount": {"1"}},
	} {
		resp, body := e.post(c, "/wallet", form)
		if resp.StatusCode/100 != 4 || !strings.Contains(body, "Nothing was sent") {
			t.Errorf("%v: %d %s", form, resp.StatusCode, body)
		}
	}
	// Review, then confirm.
	resp, body = e.post(c, "/wallet", url.Values{"do": {"review"}, "to": {strings.ToUpper(otherAddr)}, "amount": {"1,25"}, "fee": {"0.000002"}})
	if resp.StatusCode != 200 || !strings.Contains(body, `id="confirm"`) || !strings.Contains(body, "1.250002 OEC") || !strings.Contains(body, "1.250000 OEC") || !strings.Contains(body, otherAddr) {
		t.Fatalf("review: %d %s", resp.StatusCode, body)
	}
	if len(f.sends) != 0 {
		t.Fatal("the review sent")
	}
	if !strings.Contains(body, `name="nonce" value="1"`) {
		t.Fatal("the confirmation does not carry the wallet's nonce")
	}
	resp, body = e.post(c, "/wallet", url.Values{"do": {"send"}, "to": {otherAddr}, "amount": {"1,25"}, "fee": {"0.000002"}, "confirm": {"yes"}, "nonce": {"1"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "proven in block 123") {
		t.Fatalf("send: %d %s", resp.StatusCode, body)
	}
	if len(f.sends) != 1 || f.sends[0].Nonce == nil || *f.sends[0].Nonce != 1 || f.sends[0].To != otherAddr || f.sends[0].Amount != 1_250_000 || f.sends[0].Fee != 2 {
		t.Fatalf("sends: %+v", f.sends)
	}
}

func TestParseOEC(t *testing.T) {
	for in, want := range map[string]uint64{"1": 1_000_000, "0.5": 500_000, ".5": 500_000, "2,000001": 2_000_001, "0.000001": 1, "18446744073709": 18446744073709_000_000} {
		if got, err := parseOEC(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "1.2.3", "-1", "+1", "1e3", "0.0000001", "18446744073710", "1 000", "abc"} {
		if got, err := parseOEC(in); err == nil {
			t.Errorf("%q: %d, want an error", in, got)
		}
	}
	if oec(1) != "0.000001" || oec(12_500_000) != "12.500000" {
		t.Fatal(oec(1), oec(12_500_000))
	}
}
