// Command minerd is the box's miner supervisor.
//
// Mining for the cloud ore pool while the box is idle is not in this build
// yet. Until then it runs as its own gokrazy package, keeps its state
// directory under /perm/home/minerd, reports "not enabled" on its health
// socket and stays up (see packages/role).
package main

import (
	"os"

	"oepc.dev/oepcos/packages/role"
)

const detail = "cloud ore pool miner is not in this build yet"

func main() { os.Exit(role.Main("minerd", detail, os.Args[1:], os.Stderr)) }
