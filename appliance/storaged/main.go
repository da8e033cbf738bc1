// Command storaged is the box's storage-provider supervisor.
//
// Renting idle disk, storing shards, answering audits and posting proofs are
// not in this build yet. Until then it runs as its own gokrazy package,
// keeps its state directory under /perm/home/storaged, reports "not enabled"
// on its health socket and stays up (see packages/role).
package main

import (
	"os"

	"oepc.dev/oepcos/packages/role"
)

const detail = "storage provider (rent idle disk, store shards, answer audits) is not in this build yet"

func main() { os.Exit(role.Main("storaged", detail, os.Args[1:], os.Stderr)) }
