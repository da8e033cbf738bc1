// Package lighttest holds helpers for tests of the light node: super
// nodes, each a libp2p host serving the light protocol from one of a test
// chain's validators.
package lighttest

import (
	"testing"

	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/libp2p/go-libp2p/core/host"

	"oepc.dev/oepcos/packages/chain/chaintest"
	"oepc.dev/oepcos/packages/chain/light"
	"oepc.dev/oepcos/packages/p2p/p2ptest"
)

// SuperNodes starts one loopback libp2p host per node of cn, each serving
// /oe/chain/light/1.0.0 from that node, closed when the test ends.
func SuperNodes(t testing.TB, cn *chaintest.Net) []host.Host {
	t.Helper()
	hosts := make([]host.Host, len(cn.Nodes))
	for i := range cn.Nodes {
		hosts[i] = p2ptest.Host(t)
		(&light.Server{Client: local.New(cn.Nodes[i].CometBFT())}).Register(hosts[i])
	}
	return hosts
}
