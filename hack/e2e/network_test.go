package e2e

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/friends"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
	"oepc.dev/oepcos/packages/shard"
)

// TestNetwork runs a 4-box devnet (two boxes behind "NAT") with two super
// nodes and walks through what issue 3 promises: boxes join through the
// super nodes and find each other in the DHT, talk directly, make friends by
// invite, refuse strangers, survive SIGKILL with identity and friends, move
// to another bootstrap node when theirs dies, stop cleanly and resume.
func TestNetwork(t *testing.T) {
	dir := t.TempDir()
	n := StartDevnet(t, dir, "--boxes", "4", "--private", "2", "--supernodes", "2")
	st := n.State()
	if len(st.Boxes) != 4 || len(st.SuperNodes) != 2 {
		t.Fatalf("devnet.json lists %d boxes, %d super nodes", len(st.Boxes), len(st.SuperNodes))
	}
	for _, b := range st.Boxes {
		if b.Name == "" || b.API == "" || b.Token == "" || b.PeerID == "" || b.PID == 0 || b.DataDir == "" {
			t.Fatalf("incomplete devnet.json entry %+v", b)
		}
	}
	box1, box2, box3, hidden := st.Boxes[0], st.Boxes[1], st.Boxes[2], st.Boxes[3]
	if !box3.Private || !hidden.Private || box2.Private {
		t.Fatalf("want box3 and box4 behind NAT: %+v", st.Boxes)
	}

	t.Run("joined and friends", func(t *testing.T) {
		for _, b := range st.Boxes {
			WaitFor(t, b.Name+" to join and see its 3 friends", 60*time.Second, func() bool {
				s, err := tryStatus(b)
				return err == nil && s.Network.Joined && len(s.Friends) == 3 && s.FriendsConnected == 3
			})
		}
		// Boxes on one machine talk directly...
		s := status(t, box1)
		for _, f := range s.Friends {
			if f.ID.String() == box2.PeerID && f.Relayed {
				t.Errorf("box1 reaches box2 through a relay, want direct")
			}
		}
		// ...except two boxes that are both behind NAT: they fall back to
		// a super node's relay.
		s3 := status(t, box3)
		i := slices.IndexFunc(s3.Friends, func(f box.FriendStatus) bool { return f.ID.String() == hidden.PeerID })
		if i < 0 || !s3.Friends[i].Connected || !s3.Friends[i].Relayed {
			t.Errorf("box3 and box4 (both behind NAT) are not connected through a relay: %+v", s3.Friends)
		}
		if s3.Network.RelayedTotal == 0 {
			t.Errorf("box3 counted no relayed connection: %+v", s3.Network)
		}
		if s.Network.DirectTotal == 0 || s.Network.DirectRatio <= 0 {
			t.Errorf("box1 counted no direct connection: %+v", s.Network)
		}
		// The box behind "NAT" announces only relay addresses.
		hs := status(t, hidden)
		if len(hs.Network.Addrs) == 0 {
			t.Fatal("the private box announces no address at all")
		}
		for _, a := range hs.Network.Addrs {
			if !strings.Contains(a, "/p2p-circuit") {
				t.Errorf("private box announces a direct address %s", a)
			}
		}
		// Text status names the ratio.
		out, _, err := Oepc(box1.API, box1.Token, "status")
		if err != nil || !strings.Contains(out, "% direct") || !strings.Contains(out, box1.PeerID) {
			t.Errorf("oepc status: %v\n%s", err, out)
		}
	})

	t.Run("found through the super node", func(t *testing.T) {
		var ans box.PeerAnswer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := box1.Client().Do(ctx, "GET", "/v1/peers/"+box2.PeerID, nil, &ans); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(ans.Addrs, func(a string) bool { return strings.Contains(a, "/tcp/") }) {
			t.Fatalf("DHT lookup of box2 gave no TCP address: %+v", ans)
		}
	})

	t.Run("unauthenticated", func(t *testing.T) {
		for _, tok := range []string{"", "wrong", box2.Token} {
			c := &localapi.Client{Base: box1.API, Token: tok}
			err := c.Do(context.Background(), "GET", "/v1/status", nil, nil)
			var apiErr *localapi.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
				t.Errorf("token %q: %v, want 401", tok, err)
			}
		}
		_, errs, err := Oepc(box1.API, "nope", "status")
		if err == nil || !strings.Contains(errs, "401") {
			t.Errorf("oepc with a wrong token: err=%v stderr=%q", err, errs)
		}
	})

	t.Run("stranger refused, then friends by short code", func(t *testing.T) {
		boot, err := p2p.ParseAddrInfos(strings.Split(st.Bootstrap(), ","))
		if err != nil {
			t.Fatal(err)
		}
		// A bare libp2p host that is nobody's friend asks box1 to keep a
		// shard: refused at the protocol level.
		eve := p2ptest.Node(t, p2p.Config{Bootstrap: boot})
		p2ptest.Run(t, eve)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id1, _ := peer.Decode(box1.PeerID)
		WaitFor(t, "the stranger to reach box1", 30*time.Second, func() bool { return eve.Connect(ctx, id1) == nil })
		data := []byte("not welcome")
		_, eveKey, _ := ed25519.GenerateKey(nil)
		err = shard.NewClient(eve.Host).WithOwner(eveKey).Put(ctx, id1, shard.Sum(data), data)
		if !errors.Is(err, shard.ErrRefused) {
			t.Fatalf("stranger's shard put: %v, want ErrRefused", err)
		}

		// A new box makes friends with box1 through the CLI and the short
		// code (found in the DHT).
		newcomer := StartBox(t, "newcomer", st.Bootstrap())
		WaitFor(t, "the newcomer to join", 30*time.Second, func() bool {
			s, err := tryStatus(newcomer)
			return err == nil && s.Network.Joined
		})
		var inv friends.Invite
		OepcJSON(t, box1, &inv, "friends", "invite", "--ttl", "5m", "--json")
		out, errs, err := Oepc(newcomer.API, newcomer.Token, "friends", "accept", inv.Code)
		if err != nil {
			t.Fatalf("accept: %v\n%s", err, errs)
		}
		if !strings.Contains(out, "box1") {
			t.Errorf("accept printed %q", out)
		}
		// The same invite again: refused, with a clear message.
		_, errs, err = Oepc(box2.API, box2.Token, "friends", "accept", inv.URI)
		if err == nil || !strings.Contains(errs, "used") {
			t.Errorf("replayed invite: err=%v stderr=%q", err, errs)
		}
		var fl []box.FriendStatus
		OepcJSON(t, box1, &fl, "friends", "ls", "--json")
		if !slices.ContainsFunc(fl, func(f box.FriendStatus) bool { return f.ID.String() == newcomer.PeerID }) {
			t.Fatalf("box1's friends lack the newcomer: %+v", fl)
		}
		OepcJSON(t, newcomer, &fl, "friends", "ls", "--json")
		if len(fl) != 1 || fl[0].ID.String() != box1.PeerID || friends.Verify(peer.ID(mustDecode(t, newcomer.PeerID)), bookFriend(t, fl[0].Friend)) != nil {
			t.Fatalf("newcomer's friends: %+v", fl)
		}
		// Rename and block, then end the friendship from the newcomer.
		if _, errs, err := Oepc(box1.API, box1.Token, "friends", "rename", newcomer.PeerID, "the new one"); err != nil {
			t.Fatalf("rename: %v %s", err, errs)
		}
		if _, errs, err := Oepc(box1.API, box1.Token, "friends", "block", "the new one"); err != nil {
			t.Fatalf("block: %v %s", err, errs)
		}
		OepcJSON(t, box1, &fl, "friends", "ls", "--json")
		i := slices.IndexFunc(fl, func(f box.FriendStatus) bool { return f.ID.String() == newcomer.PeerID })
		if i < 0 || fl[i].Name != "the new one" || !fl[i].Blocked {
			t.Fatalf("after rename and block: %+v", fl)
		}
		if _, errs, err := Oepc(newcomer.API, newcomer.Token, "friends", "rm", "box1"); err != nil {
			t.Fatalf("rm: %v %s", err, errs)
		}
		WaitFor(t, "box1 to learn the friendship ended", 15*time.Second, func() bool {
			OepcJSON(t, box1, &fl, "friends", "ls", "--json")
			return !slices.ContainsFunc(fl, func(f box.FriendStatus) bool { return f.ID.String() == newcomer.PeerID })
		})
		if _, errs, err := Oepc(box1.API, box1.Token, "friends", "rm", "nobody"); err == nil || !strings.Contains(errs, "no such friend") {
			t.Errorf("rm of an unknown friend: err=%v stderr=%q", err, errs)
		}
	})

	t.Run("SIGKILL and restart keeps identity and friends", func(t *testing.T) {
		if err := syscall.Kill(box2.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, "the devnet to restart box2", 30*time.Second, func() bool {
			b := n.State().Boxes[1]
			return b.PID != box2.PID
		})
		WaitFor(t, "box2 to come back with its friends", 60*time.Second, func() bool {
			s, err := tryStatus(box2)
			return err == nil && s.PeerID == box2.PeerID && len(s.Friends) == 3 && s.FriendsConnected == 3
		})
	})

	t.Run("super node dies: boxes move to another", func(t *testing.T) {
		first := status(t, box3).Network.Bootstrap
		i := slices.IndexFunc(st.SuperNodes, func(s devnet.SuperNode) bool { return s.PeerID == first })
		if i < 0 {
			t.Fatalf("box3's bootstrap %q is not a super node", first)
		}
		sn := n.State().SuperNodes[i]
		if err := os.WriteFile(filepath.Join(sn.DataDir, "disabled"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(sn.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		WaitFor(t, "box3 to attach to the other super node", 30*time.Second, func() bool {
			s, err := tryStatus(box3)
			return err == nil && s.Network.Joined && s.Network.Bootstrap != "" && s.Network.Bootstrap != first
		})
	})

	t.Run("clean stop and resume", func(t *testing.T) {
		if err := n.Stop(); err != nil {
			t.Fatalf("devnet stop: %v\n%s", err, n.out)
		}
		for _, b := range n.State().Boxes {
			if syscall.Kill(b.PID, 0) == nil {
				t.Errorf("%s (pid %d) still running after the devnet stopped", b.Name, b.PID)
			}
		}
		n2 := StartDevnet(t, dir, "--boxes", "4", "--private", "2", "--supernodes", "2")
		st2 := n2.State()
		for i, b := range st2.Boxes {
			if b.PeerID != st.Boxes[i].PeerID || b.API != st.Boxes[i].API {
				t.Errorf("%s resumed as %s at %s, was %s at %s", b.Name, b.PeerID, b.API, st.Boxes[i].PeerID, st.Boxes[i].API)
			}
		}
		WaitFor(t, "box1 to see its friends again", 60*time.Second, func() bool {
			s, err := tryStatus(st2.Boxes[0])
			return err == nil && len(s.Friends) == 3 && s.FriendsConnected == 3
		})
	})
}

func mustDecode(t *testing.T, s string) peer.ID {
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// bookFriend is the friend book's entry that the API's friend f shows.
func bookFriend(t *testing.T, f apitype.Friend) friends.Friend {
	return friends.Friend{ID: mustDecode(t, f.ID.String()), Name: f.Name, TheirName: f.TheirName, Since: f.Since,
		Blocked: f.Blocked, Addrs: f.Addrs, SigSelf: f.SigSelf, SigFriend: f.SigFriend}
}
