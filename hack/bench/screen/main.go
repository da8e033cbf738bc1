// Command screen is the HDMI status screen's benchmark (make bench): the
// time to redraw the screen at 1920×1080 and 1280×720 (drawing, and
// converting to the framebuffer's XRGB8888 and RGB565), and the CPU a real
// hdmid process uses while nothing changes, polling a real oepcd and a
// (fake) sysfs, read from /proc/PID/stat before and after an idle spell.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"oepc.dev/oepcos/hdmi/fb"
	"oepc.dev/oepcos/hdmi/screen"
	"oepc.dev/oepcos/hdmi/screen/screentest"
	"oepc.dev/oepcos/packages/box"
	"oepc.dev/oepcos/packages/hdmid/hdmidtest"
)

func main() {
	runs := flag.Int("runs", 30, "redraws timed per size")
	idle := flag.Duration("idle", 10*time.Second, "idle spell over which hdmid's CPU is measured")
	flag.Parse()
	if err := redraw(*runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := idleCPU(*idle); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

func redraw(runs int) error {
	r, err := screen.NewRenderer()
	if err != nil {
		return err
	}
	st := screentest.Full()
	// The baseline, timed in the same loop: filling the picture with the
	// background (what any redraw costs at least), so a loaded machine
	// shows as a slower baseline, not as a slower screen.
	fmt.Println("| size | draw (median) | baseline fill | draw / fill | + XRGB8888 | + RGB565 |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, sz := range []image2{{1920, 1080}, {1280, 720}} {
		r.Render(sz.w, sz.h, st) // faces for this size
		var drawn, fill, x, c []time.Duration
		base := image.NewRGBA(image.Rect(0, 0, sz.w, sz.h))
		var buf []byte
		for i := range runs {
			st.Storage.Used = int64(i) * 1e9 // a real change each time
			tf := time.Now()
			draw.Draw(base, base.Rect, image.NewUniform(screen.Background), image.Point{}, draw.Src)
			fill = append(fill, time.Since(tf))
			t0 := time.Now()
			img := r.Render(sz.w, sz.h, st)
			t1 := time.Now()
			if buf, err = fb.Encode(buf, fb.XRGB8888(sz.w, sz.h), img); err != nil {
				return err
			}
			t2 := time.Now()
			if _, err = fb.Encode(nil, fb.RGB565(sz.w, sz.h), img); err != nil {
				return err
			}
			t3 := time.Now()
			drawn, x, c = append(drawn, t1.Sub(t0)), append(x, t2.Sub(t1)), append(c, t3.Sub(t2))
		}
		fmt.Printf("| %d×%d | %.1f ms | %.2f ms | %.0f× | %.1f ms | %.1f ms |\n", sz.w, sz.h, ms(median(drawn)), ms(median(fill)),
			float64(median(drawn))/float64(median(fill)), ms(median(x)), ms(median(c)))
	}
	return nil
}

type image2 struct{ w, h int }

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// idleCPU runs a real oepcd (in this process) and a real hdmid process
// with a display connected, waits for the first picture, then measures
// hdmid's user+system CPU over the idle spell.
func idleCPU(idle time.Duration) error {
	tmp, err := os.MkdirTemp("", "oepc-screenbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	build := exec.Command("go", "build", "-o", tmp+"/", "oepc.dev/oepcos/appliance/hdmid")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	boxDir := filepath.Join(tmp, "oepcd")
	ready := make(chan box.Info, 1)
	boxDone := make(chan error, 1)
	go func() {
		boxDone <- box.Run(ctx, box.Config{DataDir: boxDir, Name: "bench-box", APIListener: ln, LoopbackOnly: true,
			Ready: func(i box.Info) { ready <- i }})
	}()
	var info box.Info
	select {
	case info = <-ready:
	case err := <-boxDone:
		return fmt.Errorf("oepcd: %v", err)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("oepcd never became ready")
	}
	sys, err := hdmidtest.NewSysfs(filepath.Join(tmp, "drm"), "card0-HDMI-A-1")
	if err != nil {
		return err
	}
	// A 1080p TV's EDID from the shared corpus beside the repository;
	// without it, a display that sends none (drawn at --png-size).
	var edid []byte
	for dir := ".."; len(dir) < 30; dir = filepath.Join(dir, "..") {
		if b, err := os.ReadFile(filepath.Join(dir, "shared", "testdata", "edid", "tv_samsung_1080p_2013.bin")); err == nil {
			edid = b
			break
		}
	}
	if err := sys.Connect("card0-HDMI-A-1", edid); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(tmp, "hdmid"),
		"--data="+filepath.Join(tmp, "hdmid"), "--health-dir="+filepath.Join(tmp, "h"), "--log-level=debug",
		"--sysfs="+sys.Dir, "--fb=", "--png="+filepath.Join(tmp, "screen.png"),
		"--api="+info.API, "--token-file="+filepath.Join(boxDir, "api.token"),
		"--pairing-file="+filepath.Join(boxDir, "pairing.code"), "--web-url="+info.API+"/")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	drawn := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `msg="screen drawn"`) {
				drawn <- sc.Text()
			}
		}
		close(drawn)
	}()
	select {
	case <-drawn:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("hdmid drew nothing")
	}
	time.Sleep(2 * time.Second) // let it settle (the first polls)
	for len(drawn) > 0 {
		<-drawn
	}
	t0, err := cpuTicks(cmd.Process.Pid)
	if err != nil {
		return err
	}
	time.Sleep(idle)
	t1, err := cpuTicks(cmd.Process.Pid)
	if err != nil {
		return err
	}
	redraws := len(drawn)
	cmd.Cancel()
	cmd.Wait()
	const hz = 100 // USER_HZ on Linux
	used := time.Duration(t1-t0) * time.Second / hz
	fmt.Printf("\nhdmid idle for %v (display connected, polling oepcd every 5 s, uevents on, sysfs every 30 s): "+
		"%d clock ticks of CPU = %v (%.3f%% of one core), %d redraws\n",
		idle, t1-t0, used, 100*float64(used)/float64(idle), redraws)
	return nil
}

// cpuTicks is utime+stime of pid in clock ticks (proc(5)).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return u + st, nil
}
