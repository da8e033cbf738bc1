package supernode_test

import (
	"testing"
	"time"

	"oepc.dev/oepcos/packages/p2p"
	"oepc.dev/oepcos/packages/supernode"
)

// Without --relay-* flags a super node relays with production limits; the
// flags (what the devnet passes) override each of them.
func TestRelayFlags(t *testing.T) {
	cfg, err := supernode.ParseFlags("supernode", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Relay != p2p.DefaultRelay() {
		t.Fatalf("default relay %+v, want %+v", cfg.Relay, p2p.DefaultRelay())
	}
	cfg, err = supernode.ParseFlags("supernode", []string{
		"--relay-circuit-duration=1h", "--relay-circuit-data=4294967296", "--relay-reservations=1024",
		"--relay-reservations-per-ip=256", "--relay-reservations-per-asn=1000", "--relay-circuits=64", "--relay-buffer=32768"})
	if err != nil {
		t.Fatal(err)
	}
	want := p2p.RelayConfig{CircuitDuration: time.Hour, CircuitData: 4 << 30, MaxReservations: 1024,
		ReservationsPerIP: 256, ReservationsPerASN: 1000, MaxCircuits: 64, BufferSize: 32 << 10}
	if cfg.Relay != want {
		t.Fatalf("relay %+v, want %+v", cfg.Relay, want)
	}
}
