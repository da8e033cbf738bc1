// Command devnet runs a whole OE network on loopback: super nodes and N
// boxes, each its own OS process with its own data directory, all on
// 127.0.0.1, all friends with each other. It writes DIR/devnet.json once
// everything is up and runs until SIGINT/SIGTERM, restarting a process that
// dies (as gokrazy does on the box). Started again on the same DIR it resumes
// the same network: same identities, ports, friends and files.
//
// To take a process down for good, create the file "disabled" in its data
// directory and kill it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"oepc.dev/oepcos/hack/devnet/devnet"
	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/home/homesim"
	"oepc.dev/oepcos/packages/supernode"
)

func main() {
	// The devnet starts its processes by running itself in a child role.
	switch os.Getenv(devnet.ChildEnv) {
	case "box":
		os.Exit(box.Main(os.Args[1:], os.Stderr))
	case "supernode":
		os.Exit(supernode.Main(os.Args[1:], os.Stderr))
	case "homed":
		os.Exit(homesim.Main(os.Args[1:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg devnet.Config
	fs.IntVar(&cfg.Boxes, "boxes", 6, "number of boxes")
	fs.IntVar(&cfg.SuperNodes, "supernodes", 4, "number of super nodes (the chain's validators; the boxes' light nodes need at least 3)")
	fs.IntVar(&cfg.Private, "private", 0, "how many of the boxes sit behind \"NAT\" (reached only through a relay)")
	fs.StringVar(&cfg.Dir, "dir", ".devnet", "directory of the network's state")
	fs.BoolVar(&cfg.Chain, "chain", true, "make the super nodes the validators of an OEChain devnet")
	fs.BoolVar(&cfg.Profile, "profile", false, "serve each box's Go profiler on loopback (its address in devnet.json)")
	fs.BoolVar(&cfg.NoFriends, "no-friends", false, "leave the boxes strangers to each other")
	fs.Func("box-arg", "one more oepcd flag for every box (repeatable)", func(v string) error {
		cfg.BoxArgs = append(cfg.BoxArgs, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devnet: unexpected arguments %q\n", fs.Args())
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "devnet:", err)
		return 1
	}
	cfg.Exe = self
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil)).With("program", "devnet")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Ready = func(st devnet.State) {
		b := st.Boxes[0]
		fmt.Fprintf(stdout, "\nbox 1's web UI: %s/   pairing code: %s\n", b.API, webCode(b))
		fmt.Fprintf(stdout, "\nOE devnet up: %d super nodes, %d boxes, %s (state in %s/devnet.json)\n", len(st.SuperNodes), len(st.Boxes), map[bool]string{false: "all friends", true: "not friends yet"}[cfg.NoFriends], cfg.Dir)
		fmt.Fprintf(stdout, "box 1 (%s): %s\n\n", b.Name, b.API)
		if rpc := st.SuperNodes[0].ChainRPC; rpc != "" {
			fmt.Fprintf(stdout, "OEChain (%d validators): CometBFT RPC %s\n\n", len(st.SuperNodes), rpc)
		}
		fmt.Fprintf(stdout, "  export OEPC_BOX=%s OEPC_TOKEN=%s\n", b.API, b.Token)
		fmt.Fprintf(stdout, "  go run ./appliance/oepc status\n  go run ./appliance/oepc friends ls\n")
		fmt.Fprintf(stdout, "  go run ./appliance/oepc cloud setup        # once: prints the recovery phrase\n")
		fmt.Fprintf(stdout, "  go run ./appliance/oepc cloud put FILE /FILE\n  go run ./appliance/oepc cloud health /FILE\n")
		fmt.Fprintf(stdout, "  go run ./appliance/oepc home ls             # box 1's simulated lights\n  go run ./appliance/oepc home on \"Floor lamp\"\n")
		if len(st.SuperNodes) >= 3 && cfg.Chain {
			fmt.Fprintf(stdout, "  go run ./appliance/oepc chain status        # the box's light node\n")
			fmt.Fprintf(stdout, "  go run ./appliance/oepc wallet balance      # after cloud setup: the devnet's faucet pays each wallet %d OEC\n", devnet.FaucetGrant/1_000_000)
		}
		fmt.Fprintf(stdout, "\nCtrl-C stops the network; run it again to resume.\n")
	}
	if err := devnet.Run(ctx, cfg); err != nil {
		fmt.Fprintln(stderr, "devnet:", err)
		return 1
	}
	return 0
}

// webCode is what the web UI's first visit asks for: the pairing code, or
// a note that the password is already set.
func webCode(b devnet.Box) string {
	if _, err := os.Stat(filepath.Join(b.DataDir, "webui", "auth.json")); err == nil {
		return "(already used: sign in with your password)"
	}
	return b.PairingCode
}
