#!/usr/bin/env bash
# Fetch the Debian cloud kernel that the end-to-end tests and `make demo` boot.
#
# The package is downloaded with `apt-get download` and unpacked with
# `dpkg -x` into a cache; it is never installed. The cache directory holds:
#   vmlinuz          the bzImage from the package
#   vmlinux          the uncompressed kernel (booted through PVH), cut out of
#                    the bzImage payload (amd64)
#   Image            the uncompressed arm64 kernel Image (arm64)
#   modules/         the package's lib/modules/VERSION tree, with modules.dep
#   config           the kernel's build configuration
#   VERSION          "KERNEL_RELEASE PACKAGE_VERSION", one line
# and a symlink "current" (amd64) or "current-ARCH" in the cache root points
# at it. The script prints
# the kernel directory on stdout; a second run reuses the cache.
#
# Usage: scripts/fetch-kernel.sh [PACKAGE]
#   PACKAGE defaults to linux-image-cloud-amd64 (the meta-package, resolved to
#   the kernel package it depends on). For arm64, on a machine with arm64
#   added as a foreign architecture: linux-image-cloud-arm64:arm64.
# Environment: EMBER_CACHE (default /var/tmp/ember-cache).
set -euo pipefail

cache=${EMBER_CACHE:-/var/tmp/ember-cache}
meta=${1:-linux-image-cloud-amd64}

log() { echo "fetch-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

# A meta-package depends on exactly one versioned kernel package; a versioned
# package has no such dependency and is used as it is.
resolve_package() {
	local name=$1 dep
	apt-cache show "$name" >/dev/null 2>&1 ||
		die "package '$name' not found: run apt-get update"
	dep=$(apt-cache depends "$name" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
	echo "${dep:-$name}"
}

# Cut the compressed payload out of a bzImage and decompress it. The boot
# protocol header gives the setup size (byte 0x1f1) and the payload offset and
# length (0x248, 0x24c), so no magic-number scan is needed. Except for gzip,
# the kernel build appends the 4-byte uncompressed size to the payload, which
# the decompressors would read as a truncated second frame.
extract_vmlinux() {
	local bzimage=$1 out=$2 setup_sects offset length start magic tool
	setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$bzimage" | tr -d ' ')
	[ "$setup_sects" -ne 0 ] || setup_sects=4
	offset=$(od -An -tu4 -j $((0x248)) -N4 "$bzimage" | tr -d ' ')
	length=$(od -An -tu4 -j $((0x24c)) -N4 "$bzimage" | tr -d ' ')
	start=$(((setup_sects + 1) * 512 + offset))
	magic=$(od -An -tx1 -j "$start" -N4 "$bzimage" | tr -d ' ')
	case $magic in
	02214c18) tool="lz4 -dc" length=$((length - 4)) ;;
	28b52ffd) tool="zstd -dcq" length=$((length - 4)) ;;
	fd377a58) tool="xz -dc" length=$((length - 4)) ;;
	1f8b*) tool="gzip -dc" ;;
	*) die "unknown payload compression in '$bzimage' (magic $magic): boot the bzImage instead" ;;
	esac
	dd if="$bzimage" iflag=skip_bytes,count_bytes skip="$start" count="$length" \
		bs=1M status=none | $tool >"$out.tmp" ||
		die "failed to decompress the payload of '$bzimage' with $tool"
	[ "$(head -c4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		die "payload of '$bzimage' is not an ELF file"
	mv "$out.tmp" "$out"
}

# Writes the uncompressed kernel that QEMU boots for the package's
# architecture into the output directory.
extract_kernel() {
	local arch=$1 out=$2
	case $arch in
	amd64) extract_vmlinux "$out/vmlinuz" "$out/vmlinux" ;;
	arm64)
		# Debian ships the arm64 Image uncompressed (bookworm) or gzipped;
		# the Image header carries "ARM\x64" at offset 0x38.
		if [ "$(od -An -tx1 -N2 "$out/vmlinuz" | tr -d ' ')" = 1f8b ]; then
			gzip -dc "$out/vmlinuz" >"$out/Image.tmp" ||
				die "failed to decompress '$out/vmlinuz' with gzip"
		else
			cp "$out/vmlinuz" "$out/Image.tmp"
		fi
		[ "$(od -An -tx1 -j $((0x38)) -N4 "$out/Image.tmp" | tr -d ' ')" = 41524d64 ] ||
			die "'$out/vmlinuz' is not an arm64 kernel Image"
		mv "$out/Image.tmp" "$out/Image"
		;;
	*) die "unsupported kernel architecture '$arch': use amd64 or arm64" ;;
	esac
}

main() {
	local package name arch link dir deb release version
	package=$(resolve_package "$meta")
	# An architecture qualifier (":arm64") names the package, not the directory.
	name=${package%%:*}
	arch=${name##*-}
	link=current
	[ "$arch" = amd64 ] || link=current-$arch
	dir=$cache/kernel/$name
	if [ -f "$dir/VERSION" ] && { [ -f "$dir/vmlinux" ] || [ -f "$dir/Image" ]; }; then
		ln -sfn "kernel/$name" "$cache/$link"
		echo "$dir"
		return
	fi

	log "downloading $package"
	mkdir -p "$cache/kernel"
	work=$(mktemp -d "$cache/kernel/.fetch.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	# apt-get download writes into the current directory; the _apt user may
	# not be able to write there, so keep its warning about that quiet.
	(cd "$work" && apt-get download -q "$package" 2>&1 | grep -v 'unsandboxed' >&2) ||
		die "failed to download '$package' with apt-get: run apt-get update"
	deb=$(ls "$work"/*.deb)
	version=$(dpkg-deb -f "$deb" Version)
	dpkg -x "$deb" "$work/root"

	release=$(ls "$work/root/lib/modules")
	[ -n "$release" ] || die "no lib/modules in '$deb'"
	# The package leaves modules.dep to the installer's depmod; generate it
	# here so that image builders can resolve module dependencies.
	depmod -b "$work/root" "$release" || die "failed to run depmod for '$release'"
	mkdir -p "$work/out"
	cp "$work/root/boot/vmlinuz-$release" "$work/out/vmlinuz"
	cp "$work/root/boot/config-$release" "$work/out/config"
	mv "$work/root/lib/modules/$release" "$work/out/modules"
	extract_kernel "$arch" "$work/out"
	echo "$release $version" >"$work/out/VERSION"

	rm -rf "$dir"
	mv "$work/out" "$dir"
	ln -sfn "kernel/$name" "$cache/$link"
	log "kernel $release ($package $version) in $dir"
	echo "$dir"
}

work=
main
