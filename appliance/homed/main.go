// Command homed is the box's home-automation supervisor.
//
// The power-line modem, devices, scenes, schedules and mDNS pairing are not
// in this build yet. Until then it runs as its own gokrazy package, keeps
// its state directory under /perm/home/homed, reports "not enabled" on its
// health socket and stays up (see packages/role).
package main

import (
	"os"

	"oepc.dev/oepcos/packages/role"
)

const detail = "home automation (power-line modem, devices, scenes, schedules) is not in this build yet"

func main() { os.Exit(role.Main("homed", detail, os.Args[1:], os.Stderr)) }
