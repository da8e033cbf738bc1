// Command relayd is the box's relay supervisor.
//
// Relaying for other boxes and recording relayed bytes is not in this build
// yet. Until then it runs as its own gokrazy package, keeps its state
// directory under /perm/home/relayd, reports "not enabled" on its health
// socket and stays up (see packages/role).
package main

import (
	"os"

	"oepc.dev/oepcos/packages/role"
)

const detail = "circuit relay for other boxes is not in this build yet"

func main() { os.Exit(role.Main("relayd", detail, os.Args[1:], os.Stderr)) }
