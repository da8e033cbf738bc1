// Command supernode runs an OE super node: bootstrap node, DHT server and
// relay (see packages/supernode).
package main

import (
	"os"

	"oepc.dev/oepcos/packages/supernode"
)

func main() { os.Exit(supernode.Main(os.Args[1:], os.Stderr)) }
