// Command imagebuild builds, updates and flashes OEPC OS images; the
// Makefile's image, update and flash targets call it.
//
//	imagebuild build  -instance oepc-amd64 -out build/oepc-amd64.img [-version V] [-flag prog=--x=y]...
//	imagebuild update -instance oepc-amd64 -box HOST[:PORT] -password-file FILE [-version V] [-testboot]
//	imagebuild flash  -image build/oepc-amd64.img -dev /dev/sdX [-yes]
//	imagebuild flash  -fit -instance oepc-amd64 -dev /dev/sdX [-version V] [-yes]
//
// flash writes the image file as it is: its /perm is as large as the image
// (about 0.9 GiB for the default 2 GiB). flash -fit instead builds the
// instance straight onto the device with gok, so that /perm spans the whole
// disk.
//
// An image carries no secret a box keeps: each box makes its own gokrazy
// password and API token at first boot and shows them once on its console.
// update needs that box's password: -password-file FILE, or the
// environment variable OEPC_BOX_PASSWORD.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"oepc.dev/oepcos/hack/image"
)

type flagList map[string][]string

func (f flagList) String() string { return fmt.Sprint(map[string][]string(f)) }
func (f flagList) Set(s string) error {
	prog, fl, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(fl, "-") {
		return fmt.Errorf("want PROGRAM=--flag=value, got %q", s)
	}
	f[prog] = append(f[prog], fl)
	return nil
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: imagebuild build|update|flash [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "build":
		err = build(ctx, log, os.Args[2:])
	case "update":
		err = update(ctx, log, os.Args[2:])
	case "flash":
		err = flash(ctx, log, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want build, update or flash", os.Args[1])
	}
	if err != nil {
		log.Error("imagebuild failed", "err", err)
		os.Exit(1)
	}
}

func common(fs *flag.FlagSet) (*image.Options, flagList) {
	o := &image.Options{}
	extra := flagList{}
	fs.StringVar(&o.Repo, "repo", ".", "repository root")
	fs.StringVar(&o.Instance, "instance", "oepc-amd64", "instance under appliance/instances")
	fs.StringVar(&o.WorkDir, "work", "", "work directory (default <repo>/build)")
	fs.StringVar(&o.Version, "version", "dev", "version stamped into the OEPC programs")
	fs.Var(extra, "flag", "PROGRAM=--flag=value to append to a program's command line (repeatable)")
	return o, extra
}

func build(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	o, extra := common(fs)
	out := fs.String("out", "", "image file to write")
	size := fs.Int64("size", image.DefaultImageBytes, "image size in bytes (multiple of 512)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	o.ExtraFlags = extra
	in, err := image.Prepare(*o)
	if err != nil {
		return err
	}
	defer in.Close()
	res, err := in.Build(ctx, *out, *size)
	if err != nil {
		return err
	}
	log.Info("image built", "path", res.Path, "version", o.Version,
		"size_bytes", res.SizeBytes, "allocated_bytes", res.AllocatedBytes,
		"perm_offset", res.PermOffset, "perm_kib", res.PermKB, "took", res.Duration.Round(1e8))
	log.Info("each box flashed with this image makes its own gokrazy password and API token at first boot and shows them once on its console (gokrazy_password=..., api_token=...): save them; make update needs the password (README, The image)")
	return nil
}

func update(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("update", flag.ContinueOnError)
	o, extra := common(fs)
	box := fs.String("box", "", "the box: HOST or HOST:PORT of its gokrazy web interface")
	testboot := fs.Bool("testboot", false, "boot the new root once and keep it only if it comes up (gokrazy testboot)")
	pwFile := fs.String("password-file", "", "file holding the box's gokrazy password (the gokrazy_password it showed at first boot); default: $OEPC_BOX_PASSWORD")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *box == "" {
		return errors.New("-box is required (make update BOX=host)")
	}
	o.Password = os.Getenv("OEPC_BOX_PASSWORD")
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return fmt.Errorf("the box's password: %w", err)
		}
		o.Password = strings.TrimSpace(string(b))
		if o.Password == "" {
			return fmt.Errorf("%s is empty; put the gokrazy_password the box showed at its first boot in it (README, The image)", *pwFile)
		}
	}
	if o.Password == "" {
		return errors.New("the box's gokrazy password is needed: make update BOX=host PASSWORD_FILE=FILE (FILE holds the gokrazy_password the box showed at its first boot; README, The image)")
	}
	host, port := *box, ""
	if h, p, err := net.SplitHostPort(*box); err == nil {
		host, port = h, p
	}
	o.ExtraFlags = extra
	o.UpdateHost, o.UpdatePort = host, port
	in, err := image.Prepare(*o)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := in.Update(ctx, *testboot); err != nil {
		return err
	}
	log.Info("update sent; the box reboots into the new version", "box", *box, "version", o.Version)
	return nil
}

func flash(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("flash", flag.ContinueOnError)
	o, extra := common(fs)
	img := fs.String("image", "", "image file (without -fit)")
	dev := fs.String("dev", "", "whole-disk block device, e.g. /dev/sdX")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	fit := fs.Bool("fit", false, "build the instance onto the device so that /perm spans the whole disk")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dev == "" || (*img == "" && !*fit) {
		return errors.New("-dev and -image (or -fit) are required (make flash DEV=/dev/sdX [FIT=1])")
	}
	need := int64(image.DefaultImageBytes)
	if !*fit {
		fi, err := os.Stat(*img)
		if err != nil {
			return fmt.Errorf("image: %w (run make image first)", err)
		}
		need = fi.Size()
	}
	t, err := image.CheckFlashTarget(*dev, need)
	if err != nil {
		return err
	}
	what := *img
	if *fit {
		what = fmt.Sprintf("a fresh build of %s (version %s) with /perm over the whole disk", o.Instance, o.Version)
	}
	fmt.Fprintf(os.Stderr, "About to overwrite %s (%s, %.1f GB) with %s. Everything on it is lost.\n",
		t.Dev, t.Model, float64(t.SizeBytes)/1e9, what)
	if !*fit && t.SizeBytes > 2*need {
		fmt.Fprintf(os.Stderr, "Note: /perm will be only as large as the image allows; FIT=1 gives it the whole disk.\n")
	}
	if !*yes {
		fmt.Fprintf(os.Stderr, "Type the device name (%s) to continue: ", t.Dev)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != t.Dev {
			return errors.New("not confirmed; nothing written")
		}
	}
	if *fit {
		o.ExtraFlags = extra
		in, err := image.Prepare(*o)
		if err != nil {
			return err
		}
		defer in.Close()
		if err := in.FlashFit(ctx, t); err != nil {
			return err
		}
		log.Info("flashed", "dev", t.Dev, "instance", o.Instance, "version", o.Version, "perm_kib", image.PermSizeKB(t.SizeBytes))
		return nil
	}
	last := int64(-1)
	err = image.Flash(ctx, *img, t, func(done, total int64) {
		if pct := done * 100 / total; pct/10 != last/10 {
			last = pct
			fmt.Fprintf(os.Stderr, "\r%3d%%", pct)
		}
	})
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	log.Info("flashed", "dev", t.Dev, "image", *img)
	return nil
}
