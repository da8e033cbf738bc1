// Package cli is the `oepc` command line: every command goes through the
// box's local API, picked with --box and --token (or OEPC_BOX and
// OEPC_TOKEN), with the typed client of packages/localapi and the types
// of packages/apitype only (so `oepc` links neither libp2p nor badger).
// Errors go to stderr with a non-zero exit status.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"oepc.dev/oepcos/packages/apitype"
	"oepc.dev/oepcos/packages/localapi"
	"oepc.dev/oepcos/packages/version"
)

// Env is the outside world of one invocation.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Ctx is what a command gets.
type Ctx struct {
	Env
	API *localapi.Client
}

// Command is one `oepc` command.
type Command struct {
	Usage string
	Help  string
	Run   func(ctx context.Context, c *Ctx, args []string) error
}

// usageError makes Main print the command's usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Usagef reports wrong arguments.
func Usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func commands() map[string]Command {
	cmds := map[string]Command{
		"status":          {"status [--json]", "the box's network, peers and friends", cmdStatus},
		"health":          {"health [--json]", "health of oepcd and every supervisor", cmdHealth},
		"version":         {"version", "the oepc build", cmdVersion},
		"friends invite":  {"friends invite [--ttl 15m] [--json]", "print a one-time invite (short code and URI)", cmdInvite},
		"friends accept":  {"friends accept CODE|URI", "make friends with the box that made the invite", cmdAccept},
		"friends ls":      {"friends ls [--json]", "list friends", cmdFriendsLs},
		"friends rename":  {"friends rename FRIEND NAME", "rename a friend (FRIEND: peer ID or name)", cmdRename},
		"friends rm":      {"friends rm FRIEND", "end a friendship", cmdFriendsRm},
		"friends block":   {"friends block FRIEND", "refuse a friend's data without ending the friendship", cmdBlock(true)},
		"friends unblock": {"friends unblock FRIEND", "accept a blocked friend again", cmdBlock(false)},
	}
	for name, c := range cloudCommands() {
		cmds[name] = c
	}
	for name, c := range homeCommands() {
		cmds[name] = c
	}
	for name, c := range walletCommands() {
		cmds[name] = c
	}
	return cmds
}

// Main runs one invocation and returns its exit status.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	fs := flag.NewFlagSet("oepc", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	boxURL := fs.String("box", firstNonEmpty(env.Getenv("OEPC_BOX"), "http://127.0.0.1:7070"), "URL of the box's local API (OEPC_BOX)")
	// The token's default stays out of the flag: flag's usage prints
	// defaults, and a token printed by --help is a token leaked.
	token := fs.String("token", "", "the box's API token (default $OEPC_TOKEN)")
	tokenFile := fs.String("token-file", "", "read the API token from this file (default $OEPC_TOKEN_FILE)")
	fs.Usage = func() { usage(env.Stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	cmds := commands()
	var cmd Command
	var name string
	for n := min(2, len(rest)); n >= 1; n-- {
		if c, ok := cmds[strings.Join(rest[:n], " ")]; ok {
			cmd, name, rest = c, strings.Join(rest[:n], " "), rest[n:]
			break
		}
	}
	if cmd.Run == nil {
		if len(rest) == 0 {
			usage(env.Stderr, fs)
		} else {
			fmt.Fprintf(env.Stderr, "oepc: unknown command %q (oepc -h lists them)\n", strings.Join(rest, " "))
		}
		return 2
	}
	tok, file := tokenSource(fs, *token, *tokenFile, env.Getenv)
	if tok == "" && file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(env.Stderr, "oepc:", err)
			return 1
		}
		tok = strings.TrimSpace(string(b))
	}
	c := &Ctx{Env: env, API: &localapi.Client{Base: *boxURL, Token: tok}}
	if err := cmd.Run(ctx, c, rest); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(env.Stderr, "oepc %s: %v\nusage: oepc %s\n", name, err, cmd.Usage)
			return 2
		}
		fmt.Fprintf(env.Stderr, "oepc %s: %v\n", name, err)
		return 1
	}
	return 0
}

// tokenSource picks the API token, or the file to read it from: a flag
// given on the command line wins over the environment, and in each a token
// wins over a token file.
func tokenSource(fs *flag.FlagSet, token, tokenFile string, getenv func(string) string) (tok, file string) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["token"] && token != "":
		return token, ""
	case set["token-file"] && tokenFile != "":
		return "", tokenFile
	case getenv("OEPC_TOKEN") != "":
		return getenv("OEPC_TOKEN"), ""
	}
	return "", getenv("OEPC_TOKEN_FILE")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: oepc [--box URL] [--token TOKEN | --token-file FILE] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%s\n", cmds[n].Usage, cmds[n].Help)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nflags:")
	fs.PrintDefaults()
}

// flags parses a command's own flags; positional arguments may come before
// or after them.
func flags(name string, args []string, setup func(fs *flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	setup(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, Usagef("%v", err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdVersion(ctx context.Context, c *Ctx, args []string) error {
	fmt.Fprintln(c.Stdout, "oepc", version.Version)
	return nil
}

func cmdStatus(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("status", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	st, err := c.API.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, st)
	}
	n := st.Network
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "box\t%s (%s)\n", st.Name, st.Version)
	fmt.Fprintf(w, "peer ID\t%s\n", st.PeerID)
	fmt.Fprintf(w, "uptime\t%s\n", st.Uptime)
	joined := "no"
	if n.Joined {
		joined = "yes, through " + n.Bootstrap
	}
	fmt.Fprintf(w, "joined\t%s\n", joined)
	fmt.Fprintf(w, "peers\t%d (routing table %d)\n", len(n.Peers), n.RoutingTable)
	fmt.Fprintf(w, "connections\t%d direct, %d relayed open; %d direct, %d relayed since start: %.0f%% direct\n",
		n.Direct, n.Relayed, n.DirectTotal, n.RelayedTotal, 100*n.DirectRatio)
	fmt.Fprintf(w, "friends\t%d of %d connected\n", st.FriendsConnected, len(st.Friends))
	if ch := st.Chain; ch != nil {
		fmt.Fprintf(w, "light node\t%s\n", chainLine(ch))
	}
	for _, a := range n.Addrs {
		fmt.Fprintf(w, "address\t%s\n", a)
	}
	return w.Flush()
}

func cmdHealth(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("health", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	h, err := c.API.Health(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, h)
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	for _, r := range h.Reports {
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.Name, r.Status, r.Detail)
	}
	w.Flush()
	if !h.Healthy {
		return errors.New("the box is not healthy")
	}
	return nil
}

func cmdInvite(ctx context.Context, c *Ctx, args []string) error {
	var ttl time.Duration
	var asJSON bool
	pos, err := flags("friends invite", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&ttl, "ttl", apitype.DefaultInviteTTL, "")
		fs.BoolVar(&asJSON, "json", false, "")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return Usagef("unexpected arguments %q", pos)
	}
	inv, err := c.API.Invite(ctx, ttl.String())
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.Stdout, inv)
	}
	fmt.Fprintf(c.Stdout, "code:    %s\nuri:     %s\nexpires: %s\n", inv.Code, inv.URI, inv.Expires.Local().Format(time.RFC1123))
	fmt.Fprintln(c.Stdout, "\nOn the other box: oepc friends accept CODE (or the URI, which works without the DHT)")
	return nil
}

func cmdAccept(ctx context.Context, c *Ctx, args []string) error {
	if len(args) != 1 {
		return Usagef("want one invite code or URI")
	}
	f, err := c.API.Accept(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "now friends with %s (%s)\n", f.Name, f.ID)
	return nil
}

func cmdFriendsLs(ctx context.Context, c *Ctx, args []string) error {
	var asJSON bool
	if _, err := flags("friends ls", args, func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "") }); err != nil {
		return err
	}
	fs, err := c.API.Friends(ctx)
	if err != nil {
		return err
	}
	if fs == nil {
		fs = []apitype.FriendStatus{}
	}
	if asJSON {
		return printJSON(c.Stdout, fs)
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPEER ID\tSINCE\tSTATE")
	for _, f := range fs {
		state := "offline"
		switch {
		case f.Blocked:
			state = "blocked"
		case f.Connected && f.Relayed:
			state = "connected (relayed)"
		case f.Connected:
			state = "connected"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Name, f.ID, f.Since.Local().Format(time.DateOnly), state)
	}
	return w.Flush()
}

func cmdRename(ctx context.Context, c *Ctx, args []string) error {
	if len(args) != 2 {
		return Usagef("want FRIEND and NAME")
	}
	_, err := c.API.UpdateFriend(ctx, args[0], apitype.FriendUpdate{Name: &args[1]})
	return err
}

func cmdFriendsRm(ctx context.Context, c *Ctx, args []string) error {
	if len(args) != 1 {
		return Usagef("want one FRIEND")
	}
	return c.API.RemoveFriend(ctx, args[0])
}

func cmdBlock(blocked bool) func(context.Context, *Ctx, []string) error {
	return func(ctx context.Context, c *Ctx, args []string) error {
		if len(args) != 1 {
			return Usagef("want one FRIEND")
		}
		_, err := c.API.UpdateFriend(ctx, args[0], apitype.FriendUpdate{Blocked: &blocked})
		return err
	}
}
