// Command hdmid is the box's HDMI status screen (packages/hdmid): it reads
// the connected display's EDID, picks its mode, and draws the box's status
// and pairing code on the framebuffer, redrawing only when something
// changes. Flags come from the gokrazy instance config; state lives under
// /perm/home/hdmid; exit status 125 means a configuration gokrazy should
// not restart.
package main

import (
	"os"

	"oepc.dev/oepcos/packages/hdmid"
)

func main() { os.Exit(hdmid.Main(os.Args[1:], os.Stderr)) }
