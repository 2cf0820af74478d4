"""Assemble guest images for the end-to-end tests from the built binaries.

ember_initramfs() writes an initramfs with ember-init as /init, ember-agent,
busybox (for the entrypoints and exec commands the tests run), the kernel
modules a config needs and /etc/ember/config.json. ext4_image() turns a
directory into an ext4 image file. The images ember-rootfs builds from real
container images are made by the tests themselves; these helpers cover the
hand-made ones.
"""
import json
import os
import secrets
import shutil
import subprocess

from initramfs import Initramfs

BUSYBOX = "/bin/busybox"
# The guest TCP port of the agent's token-protected listener; the host reaches
# it through QEMU's hostfwd.
AGENT_TCP_PORT = 7000
AGENT_VSOCK_PORT = 1023
GUEST_TOKEN_PATH = "/etc/ember/token"
# Modules a microvm guest needs for its disk and network (virtio over MMIO).
BASE_MODULES = ["virtio_mmio", "virtio_blk", "virtio_net"]
VSOCK_MODULES = ["vsock", "vsock_loopback"]
BUSYBOX_APPLETS = [
    "sh", "cat", "echo", "ls", "sleep", "sync", "kill", "ip", "hostname", "date", "dd",
    "md5sum", "sha256sum", "head", "tail", "wc", "id", "mkdir", "rm", "touch", "true",
    "false", "env", "ps", "grep", "tr", "mount", "umount", "seq", "yes", "stat", "uname",
    "printf", "test", "cut", "sed", "awk", "od", "nproc", "chown", "pidof", "cmp", "xxd",
    "adjtimex", "dmesg",
]


def new_token():
    return secrets.token_hex(32)


# QEMU user networking forwards host ports to this guest address.
GUEST_ADDRESS = "10.0.2.15"
GUEST_NETWORK = {"interfaces": [{"name": "eth0", "addresses": [f"{GUEST_ADDRESS}/24"],
                                 "gateway": "10.0.2.2"}],
                 "dns": ["10.0.2.3"]}


def base_config(args=("/bin/sh", "-c", "sleep 3600"), network=True):
    """Returns a boot config (a dict) with an entrypoint, eth0 at GUEST_ADDRESS
    (unless NETWORK is false), the TCP listener the host reaches through
    hostfwd and its token file."""
    config = {
        "process": {"args": list(args), "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "hostname": "ember-e2e",
        "agent": {"listen": [f"tcp:0.0.0.0:{AGENT_TCP_PORT}"],
                  "token_file": GUEST_TOKEN_PATH},
    }
    if network:
        config["network"] = json.loads(json.dumps(GUEST_NETWORK))
    return config


def add_modules(image, kernel, names, config):
    """Copies the modules NAMES need into IMAGE and lists them, in load order,
    in CONFIG["modules"]."""
    paths = []
    for module in kernel.module_closure(names):
        guest = f"/lib/modules/{kernel.release}/{module}"
        image.add_file(guest, os.path.join(kernel.modules, module))
        paths.append(guest)
    config["modules"] = paths


def add_busybox(image, directory="/bin"):
    if not shutil.which("busybox"):
        raise RuntimeError("busybox is missing: run scripts/install-packages.sh")
    image.add_file(f"{directory}/busybox", BUSYBOX, 0o755)
    for applet in BUSYBOX_APPLETS:
        image.add_symlink(f"{directory}/{applet}", "busybox")


def ember_tree(kernel, bin_dir, config, token, modules=BASE_MODULES, files=None):
    """Returns an Initramfs holding a whole ember guest: ember-init as /init
    and /sbin/ember-init, ember-agent, emberctl, busybox, the modules, CONFIG as
    /etc/ember/config.json and TOKEN as the agent's token file. FILES maps
    extra guest paths to bytes."""
    image = Initramfs()
    for directory in ("/dev", "/proc", "/sys", "/run", "/tmp", "/root", "/etc/ember"):
        image.add_dir(directory)
    image.add_file("/init", os.path.join(bin_dir, "ember-init"), 0o755)
    image.add_file("/sbin/ember-init", os.path.join(bin_dir, "ember-init"), 0o755)
    image.add_file("/sbin/ember-agent", os.path.join(bin_dir, "ember-agent"), 0o755)
    image.add_file("/bin/emberctl", os.path.join(bin_dir, "emberctl"), 0o755)
    add_busybox(image)
    config = json.loads(json.dumps(config))
    if modules:
        add_modules(image, kernel, modules, config)
    image.add_data("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                   "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    image.add_data("/etc/group", "root:x:0:\nnogroup:x:65534:\n")
    image.add_data("/etc/ember/config.json", json.dumps(config, indent=2))
    image.add_data(GUEST_TOKEN_PATH, token, 0o600)
    for guest, data in (files or {}).items():
        image.add_data(guest, data)
    return image


def ember_initramfs(path, kernel, bin_dir, config, token, modules=BASE_MODULES,
                    files=None):
    """Writes the guest of ember_tree() to PATH as an initramfs."""
    ember_tree(kernel, bin_dir, config, token, modules, files).write(path)
    return path


def boot_initramfs(path, kernel, bin_dir, modules=BASE_MODULES, device="/dev/vda"):
    """Writes an initramfs that only loads MODULES, mounts DEVICE (ext4) as the
    root and switches to it, where the image's own /sbin/ember-init runs."""
    image = Initramfs()
    for directory in ("/dev", "/proc", "/sys", "/run", "/etc/ember"):
        image.add_dir(directory)
    image.add_file("/init", os.path.join(bin_dir, "ember-init"), 0o755)
    config = {"root": {"device": device, "fstype": "ext4", "options": "rw"}}
    add_modules(image, kernel, modules, config)
    image.add_data("/etc/ember/config.json", json.dumps(config, indent=2))
    image.write(path)
    return path


def ember_disk(path, workdir, kernel, bin_dir, config, token, files=None, size_mb=64):
    """Writes an ext4 image to PATH holding the guest of ember_tree() (without
    modules: the boot initramfs loads them)."""
    tree = os.path.join(str(workdir), "disk-tree")
    shutil.rmtree(tree, ignore_errors=True)
    image = ember_tree(kernel, bin_dir, config, token, modules=(), files=files)
    # A root filesystem starts at /sbin/ember-init; /init is for initramfs images.
    del image.entries["/init"]
    image.extract(tree)
    ext4_image(path, tree, size_mb)
    shutil.rmtree(tree)
    return path


def ext4_image(path, tree, size_mb=64):
    """Makes an ext4 image file of SIZE_MB at PATH holding the directory TREE."""
    with open(path, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", str(tree),
                    str(path)], check=True, capture_output=True, timeout=120)
    return path
