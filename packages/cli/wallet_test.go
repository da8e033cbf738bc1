package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"oepc.dev/oepcos/packages/apitype"
)

func TestWalletHistoryAndStatus(t *testing.T) {
	var limit string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/wallet/history":
			limit = r.URL.Query().Get("limit")
			json.NewEncoder(w).Encode(apitype.WalletHistoryAnswer{Address: "aa", Total: 2, Height: 40, Items: []apitype.WalletHistoryItem{
				{Height: 30, Direction: "sent", Type: "delegate", To: "cc", Amount: 10, Fee: 4, Code: 9, Reason: "no such candidate", Hash: "h2"},
				{Height: 20, Direction: "received", Type: "transfer", From: "bb", To: "aa", Amount: 1_500_000, Fee: 1, Hash: "h1"},
			}})
		case "/v1/status":
			json.NewEncoder(w).Encode(apitype.Status{Name: "b", Chain: &apitype.ChainSummary{Running: false, Error: "oepcd runs without --chain-genesis"}})
		}
	}))
	defer srv.Close()
	code, out, errs := run(t, srv, "wallet", "history", "--limit", "5")
	if code != 0 || limit != "5" {
		t.Fatalf("exit %d (limit %q): %s", code, limit, errs)
	}
	for _, want := range []string{"2 transactions, proven at height 40", "failed: code 9 (no such candidate)", "1.500000 OEC", "bb"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := run(t, srv, "wallet", "history", "--limit", "0"); code != 2 {
		t.Errorf("--limit 0: exit %d %s", code, errs)
	}
	code, out, _ = run(t, srv, "status", "--json")
	var st apitype.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Chain == nil || st.Chain.Running {
		t.Fatalf("status --json: %d %s", code, out)
	}
	if code, out, _ = run(t, srv, "status"); code != 0 || !strings.Contains(out, "light node") || !strings.Contains(out, "not running: oepcd runs without --chain-genesis") {
		t.Fatalf("status: %d %s", code, out)
	}
}
