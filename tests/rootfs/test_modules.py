"""Kernel modules: dependencies from each module's `depends=` (no modules.dep needed),
compressed modules decompressed, and the load order written to the boot config. The
modules are small ELF objects that gcc builds with a .modinfo section, compressed with xz,
zstd and gzip. A Debian kernel unpacked in the cache is used too when present."""
import json
import os
import subprocess

import pytest

from rootfs_images import run

# modules: name -> (file name, depends, compression)
MODULES = {
    "alpha": ("alpha.ko", "beta,gamma-net", None),
    "beta": ("beta.ko.xz", "gamma-net", "xz"),
    "gamma_net": ("gamma-net.ko.zst", "", "zstd"),
    "loner": ("loner.ko.gz", "", "gzip"),
    "loop_a": ("loop_a.ko", "loop_b", None),
    "loop_b": ("loop_b.ko", "loop_a", None),
    "orphan": ("orphan.ko", "absent", None),
}
VERSION = "6.1.0-99-test-amd64"
KERNEL_CACHE = os.path.join(os.environ.get("EMBER_CACHE", "/var/tmp/ember-cache"), "current",
                            "modules")


def make_module(path, depends):
    source = path + ".c"
    with open(source, "w") as f:
        f.write('__attribute__((section(".modinfo"), used)) static const char v[] =\n'
                f'    "vermagic={VERSION} SMP mod_unload modversions ";\n'
                '__attribute__((section(".modinfo"), used)) static const char d[] =\n'
                f'    "depends={depends}";\n'
                'int module_body(void) { return 42; }\n')
    run(["gcc", "-c", "-o", path, source])
    os.unlink(source)


@pytest.fixture(scope="module")
def module_tree(tmp_path_factory):
    """A package-like root: ROOT/lib/modules/VERSION/kernel/drivers/*.ko[.xz|.zst|.gz]."""
    root = tmp_path_factory.mktemp("kernel")
    drivers = root / "lib" / "modules" / VERSION / "kernel" / "drivers"
    drivers.mkdir(parents=True)
    builtin = "kernel/fs/ext4/ext4.ko\nkernel/crypto/crc32c-generic.ko\n"
    (drivers.parent.parent / "modules.builtin").write_text(builtin)
    originals = {}
    for name, (file_name, depends, compression) in MODULES.items():
        plain = str(drivers / file_name.split(".ko")[0]) + ".ko"
        make_module(plain, depends)
        with open(plain, "rb") as f:
            originals[name] = f.read()
        if compression:
            run({"xz": ["xz", "--check=crc32", plain], "zstd": ["zstd", "-q", "--rm", plain],
                 "gzip": ["gzip", plain]}[compression])
            os.rename({"xz": plain + ".xz", "zstd": plain + ".zst",
                       "gzip": plain + ".gz"}[compression], drivers / file_name)
    return {"root": root, "originals": originals}


def test_dependencies_in_load_order(builder, busybox_image, module_tree, tmp_path):
    out = tmp_path / "root"
    builder.build(busybox_image["oci"], out, "--format", "dir", "--kernel-modules",
                  module_tree["root"], "--modules", "alpha,loner")
    with open(out / "etc/ember/config.json") as f:
        modules = json.load(f)["modules"]
    base = f"/lib/modules/{VERSION}/kernel/drivers"
    assert modules == [f"{base}/gamma-net.ko", f"{base}/beta.ko", f"{base}/alpha.ko",
                       f"{base}/loner.ko"]
    for name, path in (("gamma_net", "gamma-net.ko"), ("beta", "beta.ko"),
                       ("alpha", "alpha.ko"), ("loner", "loner.ko")):
        assert (out / base.lstrip("/") / path).read_bytes() == module_tree["originals"][name]
    assert not (out / base.lstrip("/") / "orphan.ko").exists()


def test_builtin_module_skipped(builder, busybox_image, module_tree, tmp_path):
    out = tmp_path / "root"
    proc = builder.build(busybox_image["oci"], out, "--format", "dir", "--kernel-modules",
                         module_tree["root"], "--modules", "crc32c_generic,ext4,loner")
    assert "module 'crc32c_generic' is built into the kernel" in proc.stderr
    with open(out / "etc/ember/config.json") as f:
        modules = json.load(f)["modules"]
    assert modules == [f"/lib/modules/{VERSION}/kernel/drivers/loner.ko"]


def test_version_directory_accepted(builder, busybox_image, module_tree, tmp_path):
    out = tmp_path / "root.ext4"
    version_dir = module_tree["root"] / "lib" / "modules" / VERSION
    builder.build(busybox_image["oci"], out, "--kernel-modules", version_dir,
                  "--modules", "gamma_net")
    config = run(["debugfs", "-R", "cat /etc/ember/config.json", str(out)]).stdout
    assert f"/lib/modules/{VERSION}/kernel/drivers/gamma-net.ko" in config


@pytest.mark.parametrize("modules, text", [
    ("loop_a", "module dependencies loop through 'loop_a'"),
    ("orphan", "module 'absent', needed by 'orphan', not found"),
    ("nosuch", "module 'nosuch' not found"),
    (",".join(["loner"] * 257), "--modules names more than 256 modules"),
])
def test_module_errors(builder, busybox_image, module_tree, tmp_path, modules, text):
    out = tmp_path / "root.ext4"
    proc = builder.build(busybox_image["oci"], out, "--kernel-modules", module_tree["root"],
                         "--modules", modules, check=False)
    assert proc.returncode == 1
    assert text in proc.stderr
    assert not out.exists()


def test_not_a_module_directory(builder, busybox_image, tmp_path):
    proc = builder.build(busybox_image["oci"], tmp_path / "x.ext4", "--kernel-modules",
                         tmp_path, "--modules", "vsock", check=False)
    assert proc.returncode == 1
    assert "no kernel module directory" in proc.stderr


@pytest.mark.skipif(not os.path.isdir(KERNEL_CACHE), reason="no Debian kernel in the cache")
def test_debian_kernel_virtio_modules(builder, busybox_image, tmp_path):
    out = tmp_path / "initrd.img"
    builder.build(busybox_image["oci"], out, "--format", "initramfs", "--kernel-modules",
                  KERNEL_CACHE, "--modules", "virtio_net,vsock,vmw_vsock_virtio_transport")
    listing = subprocess.run(f"zcat {out} | cpio -it --quiet", shell=True, check=True,
                             capture_output=True, text=True).stdout
    config = subprocess.run(f"zcat {out} | cpio -i --to-stdout --quiet etc/ember/config.json",
                            shell=True, check=True, capture_output=True, text=True).stdout
    names = [os.path.basename(p) for p in json.loads(config)["modules"]]
    assert names.index("failover.ko") < names.index("net_failover.ko") < \
        names.index("virtio_net.ko")
    assert names.index("vsock.ko") < names.index("vmw_vsock_virtio_transport_common.ko") < \
        names.index("vmw_vsock_virtio_transport.ko")
    for path in json.loads(config)["modules"]:
        assert path.lstrip("/") in listing
