// Package directio holds the few file-cache controls the box uses for bulk
// data it writes or reads once: shards on a holder, a download in the CLI.
// Such bytes gain nothing from the page cache, and on the box copying them
// through it costs CPU and pushes the household's own files out of it.
//
// Everything here is advice or an optimisation: on systems without it
// (anything but Linux) SetDirect fails with errors.ErrUnsupported and the
// rest do nothing, and callers fall back to ordinary cached I/O.
package directio

// Align is the alignment O_DIRECT asks of buffers, file offsets and
// lengths on the file systems the box uses (ext4 on 512 B or 4 KiB
// sectors).
const Align = 4096

// Aligned reports whether p may be read into or written from with
// O_DIRECT: it starts on an Align boundary and is a whole number of
// Align-sized blocks.
func Aligned(p []byte) bool {
	if len(p) == 0 || len(p)%Align != 0 {
		return false
	}
	return addr(p)%Align == 0
}

// Buffer returns a zeroed buffer of n bytes that starts on an Align
// boundary, for O_DIRECT reads and writes.
func Buffer(n int) []byte {
	b := make([]byte, n+Align)
	off := (Align - int(addr(b)%Align)) % Align
	return b[off : off+n : off+n]
}
