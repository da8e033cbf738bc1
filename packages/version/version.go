// Package version names the build of OEPC OS a program belongs to. Release
// and image builds set Version with
// -ldflags "-X oepc.dev/oepcos/packages/version.Version=...".
package version

// Version is the OEPC OS build; "dev" for an untagged build.
var Version = "dev"
