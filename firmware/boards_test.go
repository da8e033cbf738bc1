package firmware

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestInstancesMatchPins checks that each board's committed instance config
// and build directory use exactly the pinned packages and versions.
func TestInstancesMatchPins(t *testing.T) {
	for _, b := range Boards {
		t.Run(b.Instance, func(t *testing.T) {
			dir := filepath.Join("..", "appliance", "instances", b.Instance)
			raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Environment     []string
				Packages        []string
				KernelPackage   *string
				FirmwarePackage *string
				SerialConsole   string
				Update          map[string]any
			}
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatalf("config.json: %v", err)
			}
			if cfg.KernelPackage == nil || *cfg.KernelPackage != b.Kernel {
				t.Errorf("KernelPackage = %v, want %s", cfg.KernelPackage, b.Kernel)
			}
			if cfg.FirmwarePackage == nil || *cfg.FirmwarePackage != b.Firmware {
				t.Errorf("FirmwarePackage = %v, want %q", cfg.FirmwarePackage, b.Firmware)
			}
			if cfg.SerialConsole != b.SerialConsole {
				t.Errorf("SerialConsole = %q, want %q", cfg.SerialConsole, b.SerialConsole)
			}
			if !slices.Contains(cfg.Environment, "GOARCH="+b.GOARCH) {
				t.Errorf("Environment %v lacks GOARCH=%s", cfg.Environment, b.GOARCH)
			}
			for _, p := range []string{"oepcd", "storaged", "minerd", "relayd", "homed", "hdmid", "bootguard"} {
				if !slices.Contains(cfg.Packages, "oepc.dev/oepcos/appliance/"+p) {
					t.Errorf("Packages lacks %s", p)
				}
			}
			// No secrets in the committed config.
			for _, k := range []string{"HTTPPassword", "CertPEM", "KeyPEM"} {
				if _, ok := cfg.Update[k]; ok {
					t.Errorf("config.json holds Update.%s; each box makes its own at first boot", k)
				}
			}
			if strings.Contains(strings.ToLower(string(raw)), "password") {
				t.Errorf("config.json mentions a password")
			}

			mod, err := os.ReadFile(filepath.Join(dir, "builddir", "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"github.com/gokrazy/gokrazy " + GokrazyVersion,
				b.Kernel + " " + b.KernelVersion,
				"replace oepc.dev/oepcos => ../../../..",
			}
			if b.Firmware != "" {
				want = append(want, b.Firmware+" "+b.FirmwareVersion)
			}
			for _, w := range want {
				if !strings.Contains(string(mod), w) {
					t.Errorf("builddir/go.mod lacks %q", w)
				}
			}
			sum, err := os.ReadFile(filepath.Join(dir, "builddir", "go.sum"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(sum), b.Kernel+" "+b.KernelVersion+" h1:") {
				t.Errorf("builddir/go.sum has no checksum for %s %s", b.Kernel, b.KernelVersion)
			}
		})
	}
}
