// Command oepcd is the box daemon: identity, the OE network, friends and the
// local API (see packages/box).
package main

import (
	"os"

	"oepc.dev/oepcos/packages/box"
)

func main() { os.Exit(box.Main(os.Args[1:], os.Stderr)) }
