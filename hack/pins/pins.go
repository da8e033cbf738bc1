//go:build pins

// Package pins keeps the project's core dependencies in go.mod at their
// pinned versions before every one of them has an importer (the same trick
// as Tailscale's gokrazydeps.go). It is never built.
package pins

import (
	_ "github.com/klauspost/reedsolomon"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p-kad-dht"
	_ "github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	_ "github.com/zeebo/blake3"
	_ "golang.org/x/sync/errgroup"
)
