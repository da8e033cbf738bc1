package devnet

import (
	"testing"

	"oepc.dev/oepcos/packages/supernode"
)

// The devnet's super nodes carry what its relayed boxes send: more than
// production's relay allows.
func TestRelayArgs(t *testing.T) {
	cfg, err := supernode.ParseFlags("supernode", relayArgs())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Relay.CircuitData < 1<<30 || cfg.Relay.ReservationsPerIP < 64 {
		t.Fatalf("devnet relay %+v: too small for a devnet", cfg.Relay)
	}
}
