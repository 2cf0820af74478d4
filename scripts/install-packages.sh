#!/usr/bin/env bash
# Install the Debian 12 packages that building, testing and demonstrating ember
# need, and enable the deb-src entries that `make deps` fetches sources from.
# Idempotent; needs root (it runs apt-get).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-packages.sh: run as root (it calls apt-get install)" >&2
	exit 1
fi

packages=(
	# build: guest binaries are static musl, the host builder links Debian's libraries
	build-essential musl-tools musl-dev pkg-config cmake flex bison dpkg-dev
	protobuf-c-compiler libprotobuf-c-dev libarchive-dev libjansson-dev libssl-dev
	libext2fs-dev e2fsprogs
	# tests: namespaces, images, terminals, QEMU
	python3-pytest iproute2 util-linux kmod busybox-static file cpio zstd tmux socat
	umoci skopeo debootstrap qemu-system-x86 qemu-utils strace lz4 libcap2-bin xz-utils
	# benchmarks: the peers ember is compared with
	hyperfine tini dumb-init catatonit qemu-guest-agent openssh-server openssh-client
)

# deb-src entries for `apt-get source`, mirroring the binary sources.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
		>/etc/apt/sources.list.d/ember-deb-src.sources
elif [ -f /etc/apt/sources.list ]; then
	sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/ember-deb-src.list
fi

# arm64: cross compiler, musl and kernel headers for aarch64, user-mode and system QEMU.
packages+=(gcc-aarch64-linux-gnu musl-dev:arm64 linux-libc-dev:arm64 qemu-user-static
	qemu-system-arm)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
