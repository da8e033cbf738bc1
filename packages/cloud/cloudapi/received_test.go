package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"oepc.dev/oepcos/packages/cloud"
)

// A friend's deliveries stop at its quota of pending deliveries, with a
// clear error at the sender, whether it announced the size or not; they
// are no longer pending once the owner has moved or fetched them
// (issue 9, item 4).
func TestDeliveryQuota(t *testing.T) {
	boxes := newNet(t, 7)
	a, b := boxes[0], boxes[1]
	ctx := context.Background()
	if q, own := b.s.DeliveryQuota(a.h.ID()); q != 1<<30 || own {
		t.Fatalf("default quota %d (own %v), want 1 GiB", q, own)
	}
	apiCall(t, b.s, "POST", "/v1/cloud/received/quota", map[string]any{"friend": a.h.ID().String(), "bytes": 3 * seg}, 200)
	send := func(name string, size int, announce bool) (string, error) {
		o := cloud.SendOptions{Size: -1, FriendName: "alice"}
		if announce {
			o.Size = int64(size)
		}
		return a.s.SendFile(ctx, b.h.ID(), name, bytes.NewReader(randBytes(size)), o)
	}
	if _, err := send("one.bin", 2*seg, true); err != nil {
		t.Fatal(err)
	}
	for _, announce := range []bool{true, false} {
		_, err := send("two.bin", 2*seg, announce)
		// 12 KiB: the quota of 3*seg set above.
		want := "friend alice's box refused the delivery: it would exceed the 12 KiB of pending deliveries it accepts from you"
		if !errors.Is(err, cloud.ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Fatalf("over the quota (size announced: %v): %v", announce, err)
		}
		if _, err := b.s.Stat("/Received/two.bin"); err == nil {
			t.Fatal("a delivery over the quota was stored")
		}
	}
	var rep struct {
		Default int64                    `json:"default_quota"`
		Friends []cloud.FriendDeliveries `json:"friends"`
	}
	json.Unmarshal(apiCall(t, b.s, "GET", "/v1/cloud/received", nil, 200), &rep)
	if rep.Default != 1<<30 || len(rep.Friends) != 1 || rep.Friends[0].PendingBytes != 2*seg || rep.Friends[0].PendingFiles != 1 || !rep.Friends[0].OwnQuota {
		t.Fatalf("report %+v", rep)
	}
	// Moved out of /Received: no longer pending.
	if _, err := b.s.Move("/Received/one.bin", "/one.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := send("two.bin", 2*seg, false); err != nil {
		t.Fatal(err)
	}
	// Fetched by the owner: no longer pending either.
	apiCall(t, b.s, "GET", "/v1/cloud/get?path=/Received/two.bin", nil, 200)
	if _, err := send("three.bin", 2*seg, true); err != nil {
		t.Fatal(err)
	}
	// Back to the default; a zero default refuses everything.
	apiCall(t, b.s, "POST", "/v1/cloud/received/quota", map[string]any{"friend": a.h.ID().String(), "default": true}, 200)
	apiCall(t, b.s, "POST", "/v1/cloud/received/quota", map[string]any{"bytes": 0}, 200)
	if _, err := send("four.bin", 10, true); err == nil || !strings.Contains(err.Error(), "accepts no deliveries from you") {
		t.Fatalf("zero quota: %v", err)
	}
	apiCall(t, b.s, "POST", "/v1/cloud/received/quota", map[string]any{"bytes": -1}, 400)
}
