# Home automation (issue 11): homed (packages/home), the oepc home commands
# and oepcd's proxy run under test-unit. The mDNS advertiser's tests
# (packages/home/mdns) check it from Debian's python3-zeroconf, and from
# avahi-browse/avahi-resolve (avahi-utils, with avahi-daemon on a D-Bus
# system bus of its own), inside network namespaces they make (unshare,
# iproute2): have them there first.
HOME_DEPS := python3-zeroconf iproute2 util-linux avahi-utils avahi-daemon dbus-daemon

.PHONY: home-deps
home-deps:
	@hack/install-deps.sh $(HOME_DEPS)

test-unit: home-deps

# make bench-home: a command's latency from homed's API to the device's ACK
# beside the bare driver and the physical limit, and commands/s through one
# modem (real 19200 baud and power-line timing on the simulated modem).
.PHONY: bench-home
BENCH_TARGETS += bench-home

bench-home:
	$(GO) test -run '^$$' -bench 'API' -benchtime 20x ./packages/home/
