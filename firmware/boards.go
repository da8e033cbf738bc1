// Package firmware holds the board support of OEPC OS: which gokrazy kernel
// and firmware packages each board's image is built from (the pins), and
// the layout of the persistent /perm partition.
//
// The pins here are the reference; the gokrazy build directory of each
// instance (appliance/instances/<instance>/builddir/go.mod) must require
// exactly these versions and its config.json must name these packages. The
// package's test checks both, so a pin changes in one reviewed place and the
// build files follow.
//
// # Disk layout
//
// gokrazy writes: 1 boot (FAT, kernel, and on the Pi the firmware), 2 and 3
// root A and B (squashfs, read-only; updates write the inactive one), 4 /perm
// (ext4, created by the image build with mkfs.ext4, never touched by
// updates).
//
// # /perm layout
//
//	/perm/gokr-pw.txt       the box's own gokrazy password (0600), made by
//	                        bootguard at first boot; gokrazy reads it in
//	                        preference to the image's /etc/gokr-pw.txt
//	/perm/home/<program>/   state of one program, mode 0700 (gokrazy also
//	                        sets $HOME and the working directory to it)
//	/perm/home/oepcd/       identity.key and api.token (0600, created on
//	                        first boot), the badger database
//	/perm/home/bootguard/   good.json, secrets-shown (the box showed its
//	                        password and token once)
//	/perm/home/storaged/    rented space, shards (when storaged lands)
//	/perm/var -> /run       (gokrazy's own)
//
// Runtime sockets are not on /perm: the health sockets live in
// /run/oepc/health (tmpfs), see packages/health.
//
// First boot needs no set-up program: /perm exists in the image (empty: no
// secret of a box is in the image), gokrazy creates /perm/home/<program>,
// oepcd creates its identity and API token, bootguard the gokrazy password
// (and reboots once so that gokrazy uses it), and a program
// that finds /perm unusable reports an error on its health socket and stays
// up instead of restart-looping (packages/role).
package firmware

// Board is one hardware target and what its image is built from.
type Board struct {
	// Instance is the gokrazy instance under appliance/instances.
	Instance string
	// Description is for people.
	Description string
	// GOARCH of every program in the image.
	GOARCH string
	// Kernel is the gokrazy kernel module and its pinned version.
	Kernel, KernelVersion string
	// Firmware is the boot firmware module ("" when the board's own UEFI or
	// BIOS boots gokrazy directly) and its pinned version.
	Firmware, FirmwareVersion string
	// SerialConsole is gokrazy's serial console setting.
	SerialConsole string
}

// GokrazyVersion is the pinned github.com/gokrazy/gokrazy (init, dhcp, ntp,
// the update endpoints) shared by all boards.
const GokrazyVersion = "v0.0.0-20260703061218-a4a45a20149d"

// Boards are the supported boards.
var Boards = []Board{
	{
		Instance:      "oepc-amd64",
		Description:   "OEPC box: x86-64 mini PC, legacy BIOS and UEFI (systemd-boot)",
		GOARCH:        "amd64",
		Kernel:        "github.com/gokrazy/kernel.amd64",
		KernelVersion: "v0.0.0-20260705070735-de680abf072b",
		SerialConsole: "ttyS0,115200",
	},
	{
		Instance:        "oepc-arm64",
		Description:     "Raspberry Pi 4 and 5 (arm64)",
		GOARCH:          "arm64",
		Kernel:          "github.com/gokrazy/kernel.rpi",
		KernelVersion:   "v0.0.0-20251127164438-9778ec0261de",
		Firmware:        "github.com/gokrazy/firmware",
		FirmwareVersion: "v0.0.0-20260522070551-527ce0ed43cf",
		SerialConsole:   "serial0,115200",
	},
}
