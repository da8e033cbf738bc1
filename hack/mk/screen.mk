# The HDMI status screen (issue 13): hdmi/screen, hdmi/fb, packages/hdmid.
#
#   make test-screen    its tests under -race (make test-unit runs them too)
#   make bench-screen   redraw time at 1920×1080 and 1280×720, and the CPU
#                       an idle hdmid uses (part of make bench)
#
# The screen's QR code is checked with Debian's zbarimg (zbar-tools): make
# test-unit installs it first.
SCREEN_DEPS := zbar-tools
SCREEN_PKGS := ./hdmi/screen/... ./hdmi/fb/... ./packages/hdmid/...

.PHONY: screen-deps test-screen bench-screen
screen-deps:
	@hack/install-deps.sh $(SCREEN_DEPS)

test-unit: screen-deps

test-screen: screen-deps
	$(GO) test -race -count=1 $(SCREEN_PKGS)

bench-screen:
	$(GO) run ./hack/bench/screen

BENCH_TARGETS += bench-screen

# The image with a display: boots the amd64 image under UEFI with a virtual
# VGA display and finds the status screen in QEMU's screendump (hdmid on
# efifb's /dev/fb0), by region, its QR code with zbarimg and the pairing
# code pixel for pixel. make test-image does the same on its UEFI boot (so
# make test boots once fewer); this target is that check alone, one boot.
SCREEN_IMAGE_DEPS := e2fsprogs qemu-system-x86 ovmf zbar-tools
.PHONY: test-screen-image
test-screen-image:
	@hack/install-deps.sh $(SCREEN_IMAGE_DEPS)
	OEPC_SCREEN_IMAGE_TEST=1 $(GO) test -count=1 -timeout 25m -v -run 'TestScreenImage' ./hack/imagetest
