package p2p

import "strings"

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
