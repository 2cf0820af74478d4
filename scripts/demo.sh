#!/usr/bin/env bash
# ember's demo: boot a Debian minbase microVM under QEMU and drive it with
# emberctl, printing each step's time.
#
# Usage: scripts/demo.sh [run|shell|stop]
#   run    (make demo) install what is missing, build, fetch the kernel, build
#          the image, boot it, run every step, shut it down and clean up
#   shell  (make demo-shell) the same set-up, then an interactive
#          `emberctl shell`; Ctrl-D in the shell stops the VM
#   stop   (make demo-stop) stop a VM that `shell` left running
#
# Needs root for two steps: installing packages with apt-get and debootstrap
# of the base image (both cached after the first run). Environment:
# EMBER_CACHE (default /var/tmp/ember-cache), EMBER_QEMU_ACCEL (default tcg),
# EMBER_DEMO_DIR (default build/demo: the VM's files while it runs), ARCH
# (amd64, the default, or arm64: an aarch64 guest under qemu-system-aarch64
# -M virt, with the arm64 kernel, image and build/arm64 binaries; emberctl
# and ember-rootfs stay native).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${EMBER_CACHE:-/var/tmp/ember-cache}
demo_dir=${EMBER_DEMO_DIR:-$root/build/demo}
arch=${ARCH:-amd64}
case $arch in
amd64) guest_bin=$root/build/bin kernel_package=linux-image-cloud-amd64 qemu=qemu-system-x86_64 ;;
arm64) guest_bin=$root/build/arm64/bin kernel_package=linux-image-cloud-arm64:arm64
	qemu=qemu-system-aarch64 ;;
*) echo "demo: unsupported ARCH '$arch': use amd64 or arm64" >&2; exit 1 ;;
esac
bin=$root/build/bin
emberctl=$bin/emberctl
# The agent's TCP port inside the guest; QEMU forwards a free host port to it.
agent_port=7000
# Hard limit for the QEMU process: a demo VM never outlives this.
qemu_timeout_s=1800
ready_timeout_s=120
# The root device and eth0's address (QEMU user networking forwards to
# 10.0.2.15), given to ember-init on the kernel command line.
guest_cmdline="root=/dev/vda rootfstype=ext4 rw ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
modules=virtio_mmio,virtio_blk,virtio_net
# The entrypoint prints a line every few seconds and exits 0 on its stop signal.
entrypoint='echo "entrypoint: started on $(hostname)"; trap "echo entrypoint: stopping; exit 0" TERM; i=0; while :; do i=$((i + 1)); echo "entrypoint: tick $i"; sleep 3 & wait $!; done'

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

# Runs a step and prints its wall-clock time.
step() {
	local title=$1 start end
	shift
	say "$title"
	start=$(date +%s.%N)
	"$@"
	end=$(date +%s.%N)
	awk -v start="$start" -v end="$end" 'BEGIN { printf "   (%.2f s)\n", end - start }'
}

ctl() { "$emberctl" -c "tcp:127.0.0.1:$(cat "$demo_dir/port")" --token-file "$demo_dir/token" "$@"; }

install_missing() {
	local missing=()
	for tool in "$qemu" musl-gcc protoc-c debootstrap umoci mkfs.ext4 busybox \
		lz4 depmod; do
		command -v "$tool" >/dev/null || missing+=("$tool")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "   all tools present"
		return
	fi
	echo "   missing: ${missing[*]}"
	[ "$(id -u)" -eq 0 ] || die "run as root once so that scripts/install-packages.sh can install them"
	"$root/scripts/install-packages.sh"
}

build() {
	make -C "$root" -j2 --no-print-directory ARCH=amd64 >"$demo_dir/make.log" 2>&1 ||
		die "make failed: see $demo_dir/make.log"
	if [ "$arch" != amd64 ]; then
		make -C "$root" -j2 --no-print-directory ARCH="$arch" >>"$demo_dir/make.log" 2>&1 ||
			die "make ARCH=$arch failed: see $demo_dir/make.log"
	fi
}

fetch_kernel() {
	kernel=$("$root/scripts/fetch-kernel.sh" "$kernel_package")
	echo "   $(cat "$kernel/VERSION")"
}

build_oci() {
	layout=$(EMBER_ARCH=$arch "$root/scripts/build-debian-oci.sh")
	echo "   $layout"
}

build_image() {
	[ -x "$bin/ember-rootfs" ] || die "build/bin/ember-rootfs is missing: make did not build it"
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$demo_dir/token"
	chmod 600 "$demo_dir/token"
	"$bin/ember-rootfs" build --quiet --format ext4 --free 256M \
		--kernel-modules "$kernel/modules" --modules "$modules" \
		--hostname ember-demo --entrypoint '["/bin/sh", "-c"]' --cmd "$(printf '%s' "$entrypoint" | json_string_array)" \
		--listen "tcp:0.0.0.0:$agent_port" --agent-token "$demo_dir/token" \
		--ember-bin "$guest_bin" -o "$demo_dir/root.ext4" "oci:$layout:minbase"
	# The boot initramfs: ember-init as /init loads the virtio modules, mounts
	# the root= device and switches to it, where the image's own ember-init
	# takes over. It is built from an empty tree.
	rm -rf "$demo_dir/empty" && mkdir "$demo_dir/empty"
	"$bin/ember-rootfs" build --quiet --format initramfs --cmd /bin/true \
		--kernel-modules "$kernel/modules" --modules "$modules" --ember-bin "$guest_bin" \
		--arch "$arch" -o "$demo_dir/boot.cpio" "rootfs:$demo_dir/empty"
	rmdir "$demo_dir/empty"
	ls -l "$demo_dir/root.ext4" "$demo_dir/boot.cpio" | awk '{print "   " $5 " bytes  " $9}'
}

# Reads a string on stdin and prints it as a one-element JSON array.
json_string_array() { /usr/bin/python3 -c 'import json, sys; print(json.dumps([sys.stdin.read()]))'; }

tsc_khz() {
	local mhz
	mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: \(Refined TSC clocksource calibration\|Detected\): \([0-9.]*\) MHz.*/\2/p' | tail -n1)
	[ -n "$mhz" ] || mhz=$(sed -n 's/^cpu MHz[[:space:]]*: *//p' /proc/cpuinfo | head -n1)
	echo "${EMBER_TSC_KHZ:-$(awk -v mhz="$mhz" 'BEGIN { printf "%d", mhz * 1000 }')}"
}

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

boot() {
	local port accel=${EMBER_QEMU_ACCEL:-tcg}
	port=$(free_port)
	echo "$port" >"$demo_dir/port"
	: >"$demo_dir/console.log"
	local machine=(-M microvm,acpi=on -accel "$accel") image=$kernel/vmlinux
	local console="console=ttyS0 quiet panic=-1 cryptomgr.notests tsc_early_khz=$(tsc_khz)"
	if [ "$arch" = arm64 ]; then
		# -M virt has the same virtio-mmio devices; TCG offers no "host" CPU.
		machine=(-M virt -accel "$accel" -cpu max)
		[ "$accel" = tcg ] || machine=(-M virt -accel "$accel" -cpu host)
		image=$kernel/Image
		console="console=ttyAMA0 quiet panic=-1 cryptomgr.notests"
	fi
	setsid timeout -s KILL "$qemu_timeout_s" "$qemu" \
		"${machine[@]}" -m 512 -smp 1 -nodefaults -no-user-config \
		-display none -no-reboot -serial "file:$demo_dir/console.log" \
		-kernel "$image" -initrd "$demo_dir/boot.cpio" \
		-append "$console $guest_cmdline" \
		-drive "id=root,file=$demo_dir/root.ext4,format=raw,if=none" \
		-device virtio-blk-device,drive=root \
		-netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:$agent_port" \
		-device virtio-net-device,netdev=net0 \
		</dev/null >"$demo_dir/qemu.log" 2>&1 &
	echo $! >"$demo_dir/qemu.pid"
	echo "   QEMU pid $(cat "$demo_dir/qemu.pid"), agent at 127.0.0.1:$port, console $demo_dir/console.log"
	ctl wait-ready --timeout "$ready_timeout_s" || die "agent not ready: see $demo_dir/console.log"
}

copy_round_trip() {
	ctl cp "$root/README.md" :/root/README.md
	ctl exec -- /bin/sh -c 'wc -l /root/README.md > /root/result.txt; sha256sum /root/README.md >> /root/result.txt'
	ctl cp :/root/result.txt "$demo_dir/result.txt"
	sed 's/^/   /' "$demo_dir/result.txt"
	echo "   host: $(sha256sum "$root/README.md")"
	[ "$(sed -n 2p "$demo_dir/result.txt" | cut -d' ' -f1)" = "$(sha256sum <"$root/README.md" | cut -d' ' -f1)" ] ||
		die "the guest's SHA-256 of README.md differs from the host's"
	echo "   checksums match"
}

shutdown_vm() {
	local waiter status
	ctl wait >"$demo_dir/wait.out" 2>&1 &
	waiter=$!
	ctl shutdown
	status=0
	wait "$waiter" || status=$?
	echo "   emberctl wait: entrypoint exit status $status"
	wait_qemu
	echo "   console: $(grep -a 'ember: exit status' "$demo_dir/console.log" | tail -n1)"
}

# Waits for QEMU (by the PID the demo started) to exit after power-off.
wait_qemu() {
	local pid
	pid=$(cat "$demo_dir/qemu.pid" 2>/dev/null) || return 0
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$demo_dir/qemu.pid"; return 0; }
		sleep 0.1
	done
	echo "   QEMU $pid still running 30 s after shutdown: stopping it"
	kill -TERM "$pid" 2>/dev/null || true
	rm -f "$demo_dir/qemu.pid"
}

cleanup() {
	if [ -f "$demo_dir/qemu.pid" ]; then
		kill -TERM "$(cat "$demo_dir/qemu.pid")" 2>/dev/null || true
		rm -f "$demo_dir/qemu.pid"
	fi
	rm -f "$demo_dir/root.ext4" "$demo_dir/boot.cpio" "$demo_dir/token" "$demo_dir/port"
}

prepare() {
	mkdir -p "$demo_dir"
	[ ! -f "$demo_dir/qemu.pid" ] || die "a demo VM is running (pid $(cat "$demo_dir/qemu.pid")): make demo-stop"
	step "install missing packages" install_missing
	step "build (make -j2)" build
	step "fetch the Debian cloud kernel" fetch_kernel
	step "build the Debian minbase OCI image (debootstrap + umoci)" build_oci
	step "ember-rootfs: OCI image to bootable ext4" build_image
	step "boot $arch under QEMU ($(echo "${EMBER_QEMU_ACCEL:-tcg}" | tr a-z A-Z)) until the agent answers" boot
}

run() {
	trap cleanup EXIT
	prepare
	step "emberctl info (boot timings from init)" ctl info
	step "emberctl exec -- cat /etc/os-release" ctl exec -- /bin/sh -c 'head -n 2 /etc/os-release; uname -r'
	step "streaming output" ctl exec -- /bin/sh -c 'for i in 1 2 3; do echo "line $i at $(date +%T.%N)"; sleep 1; done'
	step "copy a file in, a result out" copy_round_trip
	step "emberctl freeze" ctl freeze /
	step "emberctl thaw" ctl thaw
	step "emberctl resume (clock and entropy)" ctl resume
	step "emberctl logs (the entrypoint's output)" ctl logs
	step "graceful shutdown" shutdown_vm
	say "done: the VM is gone; try make demo-shell next"
}

shell() {
	prepare
	say "emberctl shell: Ctrl-D stops the VM (or run make demo-stop elsewhere)"
	ctl shell || true
	stop
}

stop() {
	local pid
	pid=$(cat "$demo_dir/qemu.pid" 2>/dev/null) || { echo "demo: no demo VM is running"; return 0; }
	# A concurrent demo-stop may have shut the VM down already; wait_qemu
	# stops QEMU by its PID if the shutdown request fails.
	if kill -0 "$pid" 2>/dev/null; then
		ctl shutdown --timeout 10 2>/dev/null || echo "demo: shutdown request failed"
	fi
	wait_qemu
	rm -f "$demo_dir/root.ext4" "$demo_dir/boot.cpio" "$demo_dir/token" "$demo_dir/port"
	echo "demo: VM stopped"
}

case ${1:-run} in
run) run ;;
shell) shell ;;
stop) stop ;;
*) die "unknown command '$1': use run, shell or stop" ;;
esac
