// The gokrazy build directory of the oepc-arm64 instance: one go.mod for
// every package in the image (gok finds it by walking up from
// builddir/<import path>). The OEPC programs come from this repository
// through the replace directive; gokrazy and the kernel are pinned here and
// must match the board pins in firmware/boards.go (checked by its test).
module gokrazy/build/oepc-arm64

go 1.26.0

require (
	github.com/gokrazy/gokrazy v0.0.0-20260703061218-a4a45a20149d
	github.com/gokrazy/kernel.rpi v0.0.0-20251127164438-9778ec0261de
	github.com/gokrazy/firmware v0.0.0-20260522070551-527ce0ed43cf
	oepc.dev/oepcos v0.0.0-00010101000000-000000000000
)

replace oepc.dev/oepcos => ../../../..
