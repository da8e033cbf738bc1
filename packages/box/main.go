package box

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"oepc.dev/oepcos/packages/role"
)

// DefaultMemoryLimit is oepcd's soft memory limit unless GOMEMLIMIT sets
// one. A box shares little RAM among its daemons; without a limit the GC
// lets the heap grow to twice what was live at the last collection, and a
// put's segment buffers (tens of MiB, live while it runs) took the RSS well
// past what is ever in use at once.
const DefaultMemoryLimit = 100 << 20

// Main is oepcd's whole main function.
func Main(args []string, stderr io.Writer) int {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	return role.Program("oepcd", args, stderr, ParseFlags, func(ctx context.Context, cfg Config, log *slog.Logger) error {
		cfg.Logger = log
		return Run(ctx, cfg)
	})
}
