package box

import (
	"context"
	"io"
	"log/slog"

	"oepc.dev/oepcos/packages/role"
)

// Main is oepcd's whole main function.
func Main(args []string, stderr io.Writer) int {
	return role.Program("oepcd", args, stderr, ParseFlags, func(ctx context.Context, cfg Config, log *slog.Logger) error {
		cfg.Logger = log
		return Run(ctx, cfg)
	})
}
