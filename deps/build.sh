#!/usr/bin/env bash
# Build the pinned static dependencies of ember's guest binaries with musl.
#
# The sources are the upstream tarballs inside Debian 12's source packages,
# fetched with `apt-get source --download-only` and checked against
# deps/SHA256SUMS before anything is unpacked. The result is a prefix with
# static libraries, headers and the Linux UAPI headers that musl lacks.
#
# Usage: deps/build.sh PREFIX [ARCH]     (ARCH: amd64, the default, or arm64)
set -euo pipefail

prefix=$(realpath -m "${1:?usage: deps/build.sh PREFIX [amd64|arm64]}")
arch=${2:-amd64}
here=$(cd "$(dirname "$0")" && pwd)
src="$prefix/src"
packages=("protobuf-c=1.4.1-1" "libnl3=3.7.0-0.2" "jansson=2.14-2")

case "$arch" in
amd64)
	cc="musl-gcc"
	host=""
	triplet=x86_64-linux-gnu
	;;
arm64)
	cc="aarch64-linux-gnu-gcc -specs=/usr/lib/aarch64-linux-musl/musl-gcc.specs"
	host="--host=aarch64-linux-musl"
	triplet=aarch64-linux-gnu
	;;
*)
	echo "deps/build.sh: unsupported architecture '$arch' (use amd64 or arm64)" >&2
	exit 2
	;;
esac

if [ -f "$prefix/.complete" ]; then
	exit 0
fi
mkdir -p "$src" "$prefix/include" "$prefix/lib"

fetch_sources() {
	local missing=()
	for tarball in $(awk '{print $2}' "$here/SHA256SUMS"); do
		[ -f "$src/$tarball" ] || missing+=("$tarball")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if ! (cd "$src" && apt-get source --download-only -q "${packages[@]}" >/dev/null); then
		echo "deps/build.sh: failed to download Debian source packages ${packages[*]};" \
			"run scripts/install-packages.sh first (it enables deb-src)" >&2
		exit 1
	fi
}

verify_sources() {
	if ! (cd "$src" && sha256sum --quiet -c "$here/SHA256SUMS"); then
		echo "deps/build.sh: a source tarball in $src does not match deps/SHA256SUMS;" \
			"delete $src and run again" >&2
		exit 1
	fi
}

# musl ships no kernel headers; libnl and ember need the UAPI ones.
install_kernel_headers() {
	local uapi=/usr/include
	local asm=/usr/include/$triplet/asm
	if [ "$arch" = arm64 ]; then
		# linux-libc-dev:arm64 puts the arch headers in the multiarch directory.
		asm=/usr/include/aarch64-linux-gnu/asm
	fi
	cp -r "$uapi/linux" "$uapi/asm-generic" "$prefix/include/"
	rm -rf "$prefix/include/asm"
	cp -r "$asm" "$prefix/include/asm"
}

build_protobuf_c() {
	local dir="$src/protobuf-c-1.4.1"
	rm -rf "$dir" && tar -C "$src" -xzf "$src/protobuf-c_1.4.1.orig.tar.gz"
	# Only the runtime is needed; protoc-c comes from Debian's protobuf-c-compiler.
	mkdir -p "$prefix/include/protobuf-c"
	cp "$dir/protobuf-c/protobuf-c.h" "$prefix/include/protobuf-c/"
	$cc -O2 -fPIC -I"$dir" -c "$dir/protobuf-c/protobuf-c.c" -o "$dir/protobuf-c.o"
	ar rcs "$prefix/lib/libprotobuf-c.a" "$dir/protobuf-c.o"
}

# Debian's jansson tarball is a git snapshot without a generated configure.
build_jansson() {
	local dir="$src/jansson-2.14"
	rm -rf "$dir" && tar -C "$src" -xzf "$src/jansson_2.14.orig.tar.gz"
	read -r compiler flags <<<"$cc"
	(
		cd "$dir" && mkdir -p build && cd build
		cmake -S .. -B . -DCMAKE_C_COMPILER="$compiler" -DCMAKE_C_FLAGS="-O2 $flags" \
			-DCMAKE_INSTALL_PREFIX="$prefix" \
			-DJANSSON_BUILD_DOCS=OFF -DJANSSON_EXAMPLES=OFF -DJANSSON_WITHOUT_TESTS=ON \
			-DJANSSON_BUILD_SHARED_LIBS=OFF
		make -s -j"$(nproc)"
		make -s install
	) >"$src/jansson-2.14.log" 2>&1 || {
		tail -n 40 "$src/jansson-2.14.log" >&2
		echo "deps/build.sh: failed to build jansson-2.14; the full log is $src/jansson-2.14.log" >&2
		exit 1
	}
}

build_autotools() {
	local tarball=$1 dir=$2
	shift 2
	rm -rf "$src/$dir" && tar -C "$src" -xzf "$src/$tarball"
	(
		cd "$src/$dir"
		CC="$cc" CFLAGS="-O2 -I$prefix/include" ./configure -q --prefix="$prefix" \
			--disable-shared --enable-static $host "$@"
		make -s -j"$(nproc)"
		make -s install
	) >"$src/$dir.log" 2>&1 || {
		tail -n 40 "$src/$dir.log" >&2
		echo "deps/build.sh: failed to build $dir; the full log is $src/$dir.log" >&2
		exit 1
	}
}

fetch_sources
verify_sources
install_kernel_headers
build_protobuf_c
build_jansson
build_autotools libnl3_3.7.0.orig.tar.gz libnl-3.7.0 --disable-cli --disable-debug \
	--disable-dependency-tracking
touch "$prefix/.complete"
echo "deps: built protobuf-c 1.4.1, jansson 2.14 and libnl 3.7.0 for $arch in $prefix"
