package supernode

import (
	"context"
	"io"
	"log/slog"

	"oepc.dev/oepcos/packages/role"
)

// Main is the supernode program's whole main function.
func Main(args []string, stderr io.Writer) int {
	return role.Program("supernode", args, stderr, ParseFlags, func(ctx context.Context, cfg Config, log *slog.Logger) error {
		cfg.Logger = log
		return Run(ctx, cfg)
	})
}
