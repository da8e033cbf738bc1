#!/usr/bin/env bash
# install-deps.sh PKG...: installs the Debian packages that are missing, when
# run as root (apt-get update first). Never downloads anything else.
set -euo pipefail
missing=()
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# avahi-daemon is installed for its binary only (the mDNS test runs it inside
# a network namespace): its system service must never start, or it would
# multicast on this machine's real interfaces. Mask the units before the
# package can enable them, and refuse service starts during the install.
for p in "${missing[@]}"; do
	if [ "$p" = avahi-daemon ]; then
		mkdir -p /etc/systemd/system
		for u in avahi-daemon.service avahi-daemon.socket; do
			[ -e /etc/systemd/system/$u ] || ln -s /dev/null /etc/systemd/system/$u
		done
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			trap 'rm -f /usr/sbin/policy-rc.d' EXIT
		fi
	fi
done
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
