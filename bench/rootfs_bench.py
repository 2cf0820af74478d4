"""Time to turn the Debian minbase OCI image into an ext4 root filesystem:
`ember-rootfs build --format ext4` against `umoci unpack` followed by
`mkfs.ext4 -d` of the unpacked tree, in one hyperfine run, once with the work
on a tmpfs and once on the disk.

The image comes from scripts/build-debian-oci.sh (debootstrap --variant=minbase
and umoci, cached under /var/tmp/ember-cache). Both outputs are checked with
`e2fsck -fn` after the run.

Settings: BENCH_ROOTFS_RUNS (default 5), BENCH_ROOTFS_WARMUP (1).
"""
import os
import shlex
import subprocess

import common

TAG = "minbase"
# Room added to the unpacked tree's bytes for the mkfs.ext4 -d image (metadata,
# journal), in the way an image builder sizes with headroom.
HEADROOM_FRACTION = 0.25
HEADROOM_MB = 64
# Target: ember-rootfs at least this many times faster than umoci + mkfs.ext4.
TARGET_SPEEDUP = 2.0


def oci_layout():
    out = subprocess.run([os.path.join(common.ROOT, "scripts", "build-debian-oci.sh")],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/build-debian-oci.sh failed: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


def tree_facts(session, layout):
    """Unpacks the image once (untimed) and returns its bytes, inode count and
    the mkfs.ext4 size in MiB."""
    bundle = session.path("probe-bundle")
    common.run(["umoci", "unpack", "--image", f"{layout}:{TAG}", bundle])
    size = int(common.run(["du", "-sb", os.path.join(bundle, "rootfs")]).stdout.split()[0])
    inodes = int(common.run(["sh", "-c", f"find '{bundle}/rootfs' | wc -l"]).stdout)
    common.run(["rm", "-rf", bundle])
    size_mb = int(size * (1 + HEADROOM_FRACTION) / (1 << 20)) + HEADROOM_MB
    return {"tree_bytes": size, "tree_inodes": inodes, "mkfs_size_mb": size_mb}


def fsck(image):
    out = subprocess.run(["e2fsck", "-fn", image], capture_output=True, text=True)
    return out.returncode == 0, out.stdout[-500:] + out.stderr[-500:]


def commands_for(work, layout, size_mb, ember_rootfs):
    bundle, peer_image = os.path.join(work, "bundle"), os.path.join(work, "umoci.ext4")
    peer = (f"umoci unpack --image {layout}:{TAG} {bundle} && "
            f"mkfs.ext4 -q -F -d {bundle}/rootfs {peer_image} {size_mb}M")
    commands = [("umoci unpack + mkfs.ext4 -d", shlex.join(["sh", "-c", peer]))]
    if ember_rootfs:
        commands.insert(0, ("ember-rootfs build --format ext4", shlex.join(
            [ember_rootfs, "build", "--format", "ext4", "-o", os.path.join(work, "ember.ext4"),
             f"oci:{layout}:{TAG}"])))
    return commands


def prepare_script(session, work):
    path = os.path.join(session.tmp, f"prepare-{os.path.basename(work)}.sh")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nrm -rf '{work}/bundle' '{work}/umoci.ext4' '{work}/ember.ext4'\n")
    os.chmod(path, 0o755)
    return path


def smoke_check(work, commands, result):
    """Runs ember-rootfs once outside hyperfine; returns False (with a note)
    when it fails or its image does not pass e2fsck -fn."""
    name, command = commands[0]
    out = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=900)
    image = os.path.join(work, "ember.ext4")
    if out.returncode != 0 or not os.path.exists(image):
        result["notes"].append(f"ember-rootfs was not measured: status {out.returncode}: "
                               f"{out.stderr.strip()[-800:]}")
        return False
    clean, report = fsck(image)
    if not clean:
        result["notes"].append(f"ember-rootfs was not measured: its image fails e2fsck -fn: "
                               f"{report}")
        return False
    result["ember_image_bytes"] = os.stat(image).st_size
    os.unlink(image)
    return True


def main():
    common.reexec_in_namespace(["--mount", "--propagation", "private"])
    runs = common.env_int("BENCH_ROOTFS_RUNS", 5)
    warmup = common.env_int("BENCH_ROOTFS_WARMUP", 1, minimum=0)
    ember_rootfs = common.ember_binary("ember-rootfs")
    result = {"machine": common.machine(), "notes": [], "commands": [], "cases": {}}
    if not ember_rootfs:
        result["notes"].append("ember-rootfs was not built: measured umoci + mkfs.ext4 only")

    with common.Session("rootfs") as session:
        layout = oci_layout()
        facts = tree_facts(session, layout)
        result.update(facts)
        tmpfs_work = session.path("tmpfs")
        session.mount(["-t", "tmpfs", "-o", f"size={facts['mkfs_size_mb'] * 3 + 256}m",
                       "tmpfs"], tmpfs_work)
        disk_work = session.path("disk")
        os.makedirs(disk_work)
        for label, work in (("tmpfs", tmpfs_work), ("disk", disk_work)):
            commands = commands_for(work, layout, facts["mkfs_size_mb"], ember_rootfs)
            if ember_rootfs and not smoke_check(work, commands, result):
                ember_rootfs = None
                commands = commands[1:]
            times, command = common.hyperfine(
                session, f"rootfs-{label}", commands, runs, warmup,
                ["--prepare", prepare_script(session, work)])
            result["cases"][label] = times
            result["commands"].append(command)
            for image in ("umoci.ext4", "ember.ext4"):
                path = os.path.join(work, image)
                if os.path.exists(path):
                    clean, report = fsck(path)
                    if not clean:
                        result["notes"].append(f"{image} on {label} fails e2fsck -fn: {report}")
            common.run(["sh", prepare_script(session, work)])

    result["tables"] = tables(result, runs)
    common.write_result("rootfs", result)


def tables(result, runs):
    rows, targets = [], []
    for label, times in result["cases"].items():
        ember = times.get("ember-rootfs build --format ext4", {}).get("median_ms")
        peer = times["umoci unpack + mkfs.ext4 -d"]["median_ms"]
        for name, summary in times.items():
            rows.append([label, name, common.fmt_ms(summary["median_ms"]),
                         f"{summary['mean_ms'] / 1e3:.3f} ± {summary['stddev_ms'] / 1e3:.3f} s",
                         common.fmt_ratio(summary["median_ms"], ember)])
        if ember:
            speedup = peer / ember
            targets.append([f"work on {label}: ≥ {TARGET_SPEEDUP:.0f}× faster than umoci + "
                            "mkfs.ext4", f"{speedup:.2f}×",
                            common.verdict(speedup >= TARGET_SPEEDUP)])
    out = [{"title": f"Debian minbase ({result['tree_bytes'] / (1 << 20):.0f} MiB, "
                     f"{result['tree_inodes']:,} inodes) to ext4, median of {runs}",
            "header": ["work on", "method", "median", "mean ± σ", "÷ ember-rootfs"],
            "rows": rows}]
    if targets:
        out.append({"title": "ember target", "header": ["what", "measured", "target"],
                    "rows": targets})
    return out


if __name__ == "__main__":
    main()
