"""Build container images with real tools for the ember-rootfs tests, and read trees back.

OCI layouts come from umoci (`umoci init/new`, then `umoci raw add-layer` for layer tars
that a test builds with `tar`, or `umoci repack` of an unpacked bundle), and skopeo converts
them to docker-archive and oci-archive files. `snapshot()` records a tree's names, types,
modes, owners, link targets and content hashes so that two trees can be compared.
"""
import contextlib
import hashlib
import os
import shutil
import stat
import subprocess

# Paths that ember-rootfs adds to every image (compared separately).
INJECTED = {
    "sbin/ember-init", "sbin/ember-agent", "etc/ember", "etc/ember/config.json",
    "dev/console", "lost+found",
}


def run(cmd, **kwargs):
    """Runs cmd and raises with its output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd} failed with status {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def new_layout(layout, tag="latest"):
    """Creates an OCI layout with one empty image named tag."""
    run(["umoci", "init", "--layout", str(layout)])
    run(["umoci", "new", "--image", f"{layout}:{tag}"])
    return f"{layout}:{tag}"


def add_layer(image, layer_tar):
    """Appends a tar file (made by the test, whiteouts and all) as the next layer."""
    run(["umoci", "raw", "add-layer", "--image", image, str(layer_tar)])


def set_config(image, *args):
    """Runs `umoci config` on image with the given --config.* options."""
    run(["umoci", "config", "--image", image] + list(args))


def tar_layer(tar_path, source_dir, *names, extra=()):
    """Makes a layer tar of names inside source_dir with GNU tar, keeping owners, modes,
    xattrs and capabilities."""
    run(["tar", "--create", "--file", str(tar_path), "--directory", str(source_dir),
         "--numeric-owner", "--xattrs", "--xattrs-include=*", "--format=pax"]
        + list(extra) + list(names))
    return tar_path


def repack_tree(image, tree, bundle):
    """Copies a directory tree into the image as one new layer (umoci unpack + repack)."""
    run(["umoci", "unpack", "--image", image, str(bundle)])
    rootfs = os.path.join(bundle, "rootfs")
    run(["cp", "-a", f"{tree}/.", rootfs])
    run(["umoci", "repack", "--image", image, str(bundle)])
    shutil.rmtree(bundle)


def unpack(image, bundle):
    """Unpacks image with umoci (the oracle) and returns its rootfs path."""
    run(["umoci", "unpack", "--image", image, str(bundle)])
    return os.path.join(bundle, "rootfs")


def skopeo_copy(source, destination):
    run(["skopeo", "copy", "--quiet", source, destination])


def busybox_tree(root):
    """A small tree: busybox-static, its applet links, an empty dir and a few files."""
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "var", "empty"))
    shutil.copy2("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for applet in ("sh", "ls", "cat", "echo"):
        os.symlink("busybox", os.path.join(root, "bin", applet))
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write("busybox\n")
    os.chown(os.path.join(root, "etc", "hostname"), 1000, 1001)
    os.link(os.path.join(root, "etc", "passwd"), os.path.join(root, "etc", "passwd.link"))
    return root


def file_hash(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot(root, skip=()):
    """Maps each path below root to (type, mode, uid, gid, link target or content hash)."""
    entries = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            if rel in skip or any(rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                detail = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                detail = file_hash(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                detail = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                detail = None
            entries[rel] = (stat.S_IFMT(st.st_mode), oct(stat.S_IMODE(st.st_mode)), st.st_uid,
                            st.st_gid, detail)
    return entries


def diff_snapshots(expected, actual):
    """Lists the differences between two snapshots, for an assertion message."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            lines.append(f"missing: {name} {expected[name]}")
        elif name not in expected:
            lines.append(f"extra: {name} {actual[name]}")
        elif expected[name] != actual[name]:
            lines.append(f"differs: {name} expected {expected[name]}, found {actual[name]}")
    return lines


@contextlib.contextmanager
def loop_mount(image, mountpoint, readonly=True):
    """Loop-mounts an ext4 image the test made (read-only, no journal replay) and always
    unmounts it; mount's autoclear detaches the loop device."""
    os.makedirs(mountpoint, exist_ok=True)
    options = "loop,ro,noload" if readonly else "loop"
    run(["mount", "-t", "ext4", "-o", options, str(image), str(mountpoint)])
    try:
        yield str(mountpoint)
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)


def debugfs(image, request):
    """Runs one debugfs request on an image (read-only) and returns its output."""
    return run(["debugfs", "-R", request, str(image)]).stdout


def e2fsck_clean(image):
    """Runs `e2fsck -fn` and returns (ok, output)."""
    proc = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True)
    return proc.returncode == 0, proc.stdout + proc.stderr
