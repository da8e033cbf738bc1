// Command homed is the box's home-automation supervisor: the power-line
// modems named by --modem (insteon:PATH, x10:PATH), devices, scenes and
// schedules, its API on a unix socket that oepcd proxies, state under
// /perm/home/homed and health ok / degraded (a modem missing, by path) /
// error (see packages/home).
package main

import (
	"os"

	"oepc.dev/oepcos/packages/home"
)

func main() { os.Exit(home.Main(os.Args[1:], os.Stderr)) }
