#!/usr/bin/env bash
# Build a Debian minbase OCI image for `make demo` and the end-to-end tests.
#
# debootstrap --variant=minbase makes the root tree (cached as a tarball), and
# umoci turns it into a one-layer OCI image layout with tag "minbase", whose
# Cmd is /bin/sh. Needs root (debootstrap chroots and creates device nodes).
# Prints the OCI layout directory on stdout; a second run reuses the cache.
#
# Usage: scripts/build-debian-oci.sh
# Environment: EMBER_ARCH (amd64, the default, or arm64), EMBER_CACHE
# (default /var/tmp/ember-cache), EMBER_SUITE
# (default bookworm), EMBER_MIRROR (default: the first Debian mirror in the
# machine's apt sources, else http://deb.debian.org/debian).
set -euo pipefail

cache=${EMBER_CACHE:-/var/tmp/ember-cache}
suite=${EMBER_SUITE:-bookworm}
arch=${EMBER_ARCH:-amd64}
host_arch=$(dpkg --print-architecture)
# The amd64 cache keeps its original names; other architectures get a suffix.
suffix=
[ "$arch" = amd64 ] || suffix=-$arch
tarball=$cache/debian-$suite-minbase$suffix.tar
layout=$cache/oci-debian-$suite$suffix
tag=minbase
# Tools the demo runs inside the image, beyond what minbase carries.
extra_packages=procps

log() { echo "build-debian-oci: $*" >&2; }
die() { log "$*"; exit 1; }

# The mirror the machine's apt already uses, so debootstrap fetches from the
# same place as apt-get.
configured_mirror() {
	local uri
	uri=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources \
		2>/dev/null | head -n1)
	if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(http[^ ]*\/debian\)\/\? .*/\2/p' \
			/etc/apt/sources.list | head -n1)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}

build_tarball() {
	local root mirror
	mirror=${EMBER_MIRROR:-$(configured_mirror)}
	root=$(mktemp -d "$cache/.debootstrap.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	# mktemp makes the directory 0700, and the tarball's "./" entry (the
	# image's root directory) keeps the mode: non-root users could not even
	# chdir("/") in the guest.
	chmod 0755 "$root"
	log "debootstrap --variant=minbase $suite from $mirror (a few minutes)"
	if [ "$arch" = "$host_arch" ]; then
		debootstrap --variant=minbase --include="$extra_packages" "$suite" "$root" \
			"$mirror" >"$root.log" 2>&1 || die "debootstrap failed: see $root.log"
	else
		foreign_tree "$root" "$mirror"
	fi
	rm -f "$root.log"
	# The package cache is not part of the image.
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
	tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$root"
	trap - EXIT
}

# A tree of another architecture: debootstrap's first stage unpacks the
# packages, but their maintainer scripts need the foreign CPU, so the second
# stage never runs. NOTE: the packages stay unconfigured (dpkg lists them as
# unpacked). The tree gets passwd and group from base-passwd's templates,
# so that user names such as root resolve in the guest.
foreign_tree() {
	local root=$1 mirror=$2
	debootstrap --arch="$arch" --foreign --variant=minbase --include="$extra_packages" \
		"$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
		die "debootstrap --foreign --arch=$arch failed: see $root.log"
	cp "$root/usr/share/base-passwd/passwd.master" "$root/etc/passwd"
	cp "$root/usr/share/base-passwd/group.master" "$root/etc/group"
	# The first stage links /proc to the host's /proc; the guest mounts its own.
	rm -rf "$root/debootstrap" "$root/proc"
	mkdir -p "$root/proc" "$root/sys"
}

build_layout() {
	local work
	work=$(mktemp -d "$cache/.oci.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	mkdir "$work/rootfs"
	tar --numeric-owner -C "$work/rootfs" -xf "$tarball"
	umoci init --layout "$work/layout"
	umoci new --image "$work/layout:$tag"
	umoci insert --image "$work/layout:$tag" "$work/rootfs" /
	umoci config --image "$work/layout:$tag" --architecture "$arch" --config.cmd /bin/sh \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--config.workingdir / --author ember
	umoci gc --layout "$work/layout"
	rm -rf "$layout"
	mv "$work/layout" "$layout"
	rm -rf "$work"
	trap - EXIT
}

main() {
	# A cached layout needs neither root nor the tools.
	if [ ! -f "$layout/index.json" ]; then
		[ "$(id -u)" -eq 0 ] || die "run as root once: debootstrap and umoci need it"
		command -v debootstrap >/dev/null ||
			die "debootstrap is missing: run scripts/install-packages.sh"
		command -v umoci >/dev/null || die "umoci is missing: run scripts/install-packages.sh"
		mkdir -p "$cache"
		[ -f "$tarball" ] || build_tarball
		build_layout
	fi
	echo "$layout"
}

main
