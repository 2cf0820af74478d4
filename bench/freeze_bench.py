"""Freeze + thaw latency of 1 and 3 mounted ext4 images, idle and under write
load. ember (libember freeze and thaw) and qemu-guest-agent
(guest-fsfreeze-freeze-list and guest-fsfreeze-thaw) work on the same images in
the same run, each timed by build/bench/ember-bench from one client process.

Only filesystems this script creates are frozen: ext4 images on loop devices,
mounted under its temporary directory in its own private mount namespace and
named explicitly in every request. The script also runs in its own PID
namespace, so ember-agent is never in the machine's initial PID namespace
(where a thaw could set the clock). qemu-ga's plain guest-fsfreeze-freeze,
which freezes every filesystem, is blocked.

Settings: BENCH_FREEZE_CYCLES (default 100 per case), BENCH_FREEZE_WARMUP (5),
BENCH_FREEZE_IMAGE_MB (256).
"""
import os
import shlex
import subprocess

import common
import peers

IMAGES = 3
# 1 MiB blocks the write-load process writes between fsyncs. It rewrites the
# same region of its file, so the image never fills up.
LOAD_BLOCKS_PER_FSYNC = 16
LOAD_WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
block = b"x" * (1 << 20)
while True:
    for _ in range(int(sys.argv[2])):
        os.write(fd, block)
    os.fsync(fd)
    os.lseek(fd, 0, os.SEEK_SET)
"""


def own_loop_mounts(tmp):
    """Returns the mount points under tmp whose source is a loop device, from
    this namespace's mountinfo."""
    mounts = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            separator = fields.index("-")
            mountpoint, source = fields[4], fields[separator + 2]
            if mountpoint.startswith(tmp + "/") and source.startswith("/dev/loop"):
                mounts.add(mountpoint)
    return mounts


def thaw_quietly(mountpoint):
    """Thaws a mount point this script froze, ignoring "not frozen"."""
    subprocess.run(["fsfreeze", "--unfreeze", mountpoint], capture_output=True)


def make_images(session, size_mb):
    """Creates, formats and loop-mounts the images; returns their mount points."""
    mountpoints = []
    for index in range(IMAGES):
        image = session.path(f"image{index}.ext4")
        common.run(["truncate", "-s", f"{size_mb}M", image])
        common.run(["mkfs.ext4", "-q", "-F", image])
        mountpoint = session.path("mnt", str(index))
        session.mount(["-o", "loop", "-t", "ext4", image], mountpoint)
        session.defer(thaw_quietly, mountpoint)
        mountpoints.append(mountpoint)
    missing = set(mountpoints) - own_loop_mounts(session.tmp)
    if missing:
        raise RuntimeError(f"not the benchmark's own loop mounts: {sorted(missing)}")
    return mountpoints


def start_load(session, mountpoints):
    """Starts one writer per mount point; returns their processes."""
    writers = []
    for mountpoint in mountpoints:
        writers.append(session.spawn(
            ["/usr/bin/python3", "-c", LOAD_WRITER, os.path.join(mountpoint, "load"),
             str(LOAD_BLOCKS_PER_FSYNC)]))
        # Thaw before the writer is stopped: a writer blocked on a frozen
        # filesystem cannot be killed.
        session.defer(thaw_quietly, mountpoint)
    return writers


def stop_load(writers, mountpoints):
    for mountpoint in mountpoints:
        thaw_quietly(mountpoint)
    for writer in writers:
        common.stop_process(writer)


def run_cycles(driver, mode, address, mountpoints, cycles, warmup):
    argv = [driver, "-w", str(warmup), mode, address, str(cycles)] + mountpoints
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed with status {out.returncode}: "
                           f"{out.stderr.strip()}")
    samples = {"freeze": [], "thaw": []}
    for line in out.stdout.splitlines():
        operation, ns = line.split()
        samples[operation].append(int(ns) / 1e9)
    cycle = [a + b for a, b in zip(samples["freeze"], samples["thaw"])]
    return {"freeze": common.summarize(samples["freeze"]),
            "thaw": common.summarize(samples["thaw"]),
            "cycle": common.summarize(cycle)}, shlex.join(argv)


def start_agent(session, result):
    agent = common.ember_binary("ember-agent")
    if not agent:
        result["notes"].append("ember-agent was not built: measured qemu-ga only")
        return None
    # The agent records the frozen set in /run/ember, as in a guest. A tmpfs
    # on /run in this private mount namespace gives it one without touching
    # the machine's /run.
    session.mount(["-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs"], "/run")
    os.makedirs("/run/ember", mode=0o755)
    socket_path = session.path("agent.sock")
    proc = session.spawn([agent, "--listen", f"unix:{socket_path}"], log_name="agent.log")
    peers.wait_for_path(socket_path, proc, "ember-agent")
    return f"unix:{socket_path}"


def main():
    common.reexec_in_namespace(["--mount", "--propagation", "private", "--pid", "--fork",
                                "--mount-proc"])
    cycles = common.env_int("BENCH_FREEZE_CYCLES", 100)
    warmup = common.env_int("BENCH_FREEZE_WARMUP", 5, minimum=0)
    size_mb = common.env_int("BENCH_FREEZE_IMAGE_MB", 256)
    driver = common.DRIVER
    result = {"machine": common.machine(), "notes": [], "commands": [], "cases": []}

    with common.Session("freeze") as session:
        mountpoints = make_images(session, size_mb)
        address = start_agent(session, result)
        qga = peers.QemuGa(session, {"guest-fsfreeze-status", "guest-fsfreeze-freeze-list",
                                     "guest-fsfreeze-thaw"})
        qga.close()
        peers_to_run = [("qemu-ga", "freeze-qga", qga.socket_path)]
        if address:
            peers_to_run.insert(0, ("ember", "freeze-ember", address))
        for count in (1, IMAGES):
            for load in (False, True):
                targets = mountpoints[:count]
                writers = start_load(session, targets) if load else []
                for name, mode, peer_address in peers_to_run:
                    try:
                        times, command = run_cycles(driver, mode, peer_address, targets,
                                                    cycles, warmup)
                    except RuntimeError as error:
                        result["notes"].append(f"{name} with {count} image(s), "
                                               f"{'write load' if load else 'idle'}: {error}")
                        common.log(str(error))
                        continue
                    if command not in result["commands"] and count == IMAGES and not load:
                        result["commands"].append(command)
                    result["cases"].append({"peer": name, "images": count, "load": load,
                                            **times})
                stop_load(writers, targets)

    result["tables"] = tables(result, cycles)
    common.write_result("freeze", result)


def tables(result, cycles):
    rows = []
    by_case = {}
    for case in result["cases"]:
        by_case[(case["peer"], case["images"], case["load"])] = case
    for case in result["cases"]:
        ember = by_case.get(("ember", case["images"], case["load"]))
        ember_cycle = ember["cycle"]["median_ms"] if ember else None
        rows.append([case["peer"], case["images"], "write load" if case["load"] else "idle",
                     common.fmt_ms(case["freeze"]["median_ms"]),
                     common.fmt_ms(case["thaw"]["median_ms"]),
                     common.fmt_ms(case["cycle"]["median_ms"]),
                     common.fmt_ratio(case["cycle"]["median_ms"], ember_cycle)])
    return [{"title": f"Freeze and thaw of loop-mounted ext4 images ({cycles} cycles per case)",
             "header": ["agent", "images", "load", "freeze median", "thaw median",
                        "freeze + thaw median", "÷ ember"],
             "rows": rows}]


if __name__ == "__main__":
    main()
