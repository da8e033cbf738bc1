// Command hdmid is the box's HDMI status screen.
//
// Choosing the display mode from EDID and drawing the status screen are not
// in this build yet. Until then it runs as its own gokrazy package, keeps
// its state directory under /perm/home/hdmid, reports "not enabled" on its
// health socket and stays up (see packages/role).
package main

import (
	"os"

	"oepc.dev/oepcos/packages/role"
)

const detail = "HDMI status screen (EDID mode choice, framebuffer, pairing code) is not in this build yet"

func main() { os.Exit(role.Main("hdmid", detail, os.Args[1:], os.Stderr)) }
