// Command oepc is the command line of an OEPC box: it talks to the box's
// local API (see packages/cli).
package main

import (
	"context"
	"os"

	"oepc.dev/oepcos/packages/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
	}))
}
