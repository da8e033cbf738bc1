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
