package p2p

import (
	"flag"
	"strings"
)

// AddrList is a flag holding comma-separated multiaddrs; "none" or ""
// empties it.
type AddrList []string

func (s *AddrList) String() string { return strings.Join(*s, ",") }

// Set replaces the list.
func (s *AddrList) Set(v string) error {
	*s = nil
	if v == "none" {
		return nil
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// RelayFlags registers the --relay-* flags that set c, with DefaultRelay's
// values as their defaults.
func RelayFlags(fs *flag.FlagSet, c *RelayConfig) {
	*c = DefaultRelay()
	fs.DurationVar(&c.CircuitDuration, "relay-circuit-duration", c.CircuitDuration, "how long one relayed connection may last")
	fs.Int64Var(&c.CircuitData, "relay-circuit-data", c.CircuitData, "bytes one relayed connection may carry in each direction")
	fs.IntVar(&c.MaxReservations, "relay-reservations", c.MaxReservations, "relay slots held at once")
	fs.IntVar(&c.ReservationsPerIP, "relay-reservations-per-ip", c.ReservationsPerIP, "relay slots held at once from one IP address")
	fs.IntVar(&c.ReservationsPerASN, "relay-reservations-per-asn", c.ReservationsPerASN, "relay slots held at once from one autonomous system")
	fs.IntVar(&c.MaxCircuits, "relay-circuits", c.MaxCircuits, "relayed connections open at once per peer")
	fs.IntVar(&c.BufferSize, "relay-buffer", c.BufferSize, "bytes buffered per relayed connection and direction")
}
