"""Copy throughput of one 1 GiB file host → guest and guest → host, in one run.
The peers are `emberctl cp` through ember-agent on a Unix socket, a raw stream
of the same bytes through a Unix socket with socat and 256 KiB blocks (the
ceiling), scp to sshd on 127.0.0.1, and qemu-ga's guest-file-write and
guest-file-read.

"Host" and "guest" directories are both on one tmpfs that the script mounts in
its private mount namespace, so the numbers measure the transfer, not the disk
(ember's fsync of each file is free on tmpfs). Each peer's first copy in each
direction is checked byte for byte against the source. The peers take turns
within each round, so a slow spell of the machine hits all of them.

Before every timed copy the destination is removed and the script writes and
frees twice the file's size of memory. On a VM whose balloon driver reports
free pages to the hypervisor, writing into reported pages costs a host fault
per page. Without this step, one raw stream measured anywhere from 0.2 to
2.5 GB/s here.

Settings: BENCH_COPY_MB (default 1024), BENCH_COPY_RUNS (5 per peer and
direction), BENCH_COPY_QGA_CHUNK_KB (1024: the fastest of 1, 4 and 16 MiB
measured here).
"""
import filecmp
import mmap
import os
import shlex
import subprocess
import time

import common
import peers

# socat's block size for the raw stream.
RAW_BLOCK_BYTES = 256 * 1024
# Targets: ember at least this fraction of the raw stream and this many times scp.
TARGET_RAW_FRACTION = 0.8
TARGET_SCP_SPEEDUP = 5.0
# The random source is written in blocks of this size.
SOURCE_BLOCK_BYTES = 1 << 20


def warm_memory(size_mb):
    """Writes size_mb MiB of anonymous memory and frees it, so the next copy
    writes into pages the hypervisor has backed."""
    block = bytes(SOURCE_BLOCK_BYTES)
    with mmap.mmap(-1, size_mb * SOURCE_BLOCK_BYTES) as memory:
        for _ in range(size_mb):
            memory.write(block)


def make_source(path, size_mb):
    with open(path, "wb") as f:
        for _ in range(size_mb):
            f.write(os.urandom(SOURCE_BLOCK_BYTES))


def timed(argv, timeout=900):
    start = time.monotonic()
    out = subprocess.run(argv, capture_output=True, timeout=timeout)
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed with status {out.returncode}: "
                           f"{out.stderr.decode(errors='replace').strip()}")
    return elapsed


def raw_stream(session, source, dest):
    """Streams source to dest through a Unix socket with two socat processes;
    returns the seconds from the sender's start to both having exited."""
    socket_path = session.path("raw.sock")
    block = str(RAW_BLOCK_BYTES)
    receiver = session.spawn(["socat", "-u", "-b", block, f"UNIX-LISTEN:{socket_path}",
                              f"OPEN:{dest},creat,trunc"], log_name="socat.log")
    peers.wait_for_path(socket_path, receiver, "socat")
    start = time.monotonic()
    subprocess.run(["socat", "-u", "-b", block, f"OPEN:{source}",
                    f"UNIX-CONNECT:{socket_path}"], check=True, capture_output=True)
    status = receiver.wait(timeout=900)
    elapsed = time.monotonic() - start
    if status != 0:
        raise RuntimeError(f"socat receiver exited with status {status}")
    return elapsed


class Peer:
    """A way to copy a file up (host → guest) and down (guest → host)."""

    def __init__(self, name, up, down, command_up, command_down):
        self.name, self.up, self.down = name, up, down
        self.commands = [command_up, command_down]


def ember_peer(session, result):
    agent = common.ember_binary("ember-agent")
    emberctl = common.ember_binary("emberctl")
    if not agent or not emberctl:
        result["notes"].append("ember-agent or emberctl was not built: measured the peers only")
        return None, None
    address = f"unix:{session.path('agent.sock')}"
    proc = session.spawn([agent, "--listen", address], log_name="agent.log")
    peers.wait_for_path(session.path("agent.sock"), proc, "ember-agent")
    probe_source = session.path("host", "probe")
    with open(probe_source, "w") as f:
        f.write("ember-ok\n")
    try:
        timed([emberctl, "-c", address, "cp", probe_source, ":" + session.path("guest", "probe")])
        timed([emberctl, "-c", address, "cp", ":" + session.path("guest", "probe"),
               session.path("host", "probe-back")])
        if not filecmp.cmp(probe_source, session.path("host", "probe-back"), shallow=False):
            raise RuntimeError("a small file copied in and out came back different")
    except RuntimeError as error:
        message = f"ember was not measured: {error}"
        result["notes"].append(message)
        common.log(message)
        return None, None
    cp = [emberctl, "-c", address, "cp"]
    return Peer("emberctl cp",
                lambda src, dst: timed(cp + [src, ":" + dst]),
                lambda src, dst: timed(cp + [":" + src, dst]),
                shlex.join(cp + ["HOST_FILE", ":GUEST_FILE"]),
                shlex.join(cp + [":GUEST_FILE", "HOST_FILE"])), proc


def main():
    common.reexec_in_namespace(["--mount", "--propagation", "private"])
    size_mb = common.env_int("BENCH_COPY_MB", 1024)
    runs = common.env_int("BENCH_COPY_RUNS", 5)
    chunk = common.env_int("BENCH_COPY_QGA_CHUNK_KB", 1024) * 1024
    result = {"machine": common.machine(), "notes": [], "commands": [], "size_mb": size_mb}

    with common.Session("copy") as session:
        # Room for the source, one copy in each direction and a spare.
        work = session.path("work")
        session.mount(["-t", "tmpfs", "-o", f"size={size_mb * 4 + 64}m", "tmpfs"], work)
        os.makedirs(session.path("host"))
        os.makedirs(session.path("guest"))
        source = os.path.join(work, "source")
        make_source(source, size_mb)
        up_dest = os.path.join(work, "in-guest")
        down_dest = os.path.join(work, "back-on-host")

        ember, agent_proc = ember_peer(session, result)
        qga = peers.QemuGa(session, {"guest-file-open", "guest-file-close", "guest-file-read",
                                     "guest-file-write", "guest-file-flush"})
        sshd = peers.Sshd(session)
        scp = sshd.scp_argv
        remote = "root@127.0.0.1:"
        all_peers = [
            Peer("raw stream (socat, 256 KiB blocks)",
                 lambda src, dst: raw_stream(session, src, dst),
                 lambda src, dst: raw_stream(session, src, dst),
                 f"socat -u -b {RAW_BLOCK_BYTES} UNIX-LISTEN:SOCK OPEN:DEST,creat,trunc & "
                 f"socat -u -b {RAW_BLOCK_BYTES} OPEN:SOURCE UNIX-CONNECT:SOCK",
                 "(the same, in the other direction)"),
            Peer("scp (OpenSSH, 127.0.0.1)",
                 lambda src, dst: timed(scp(src, remote + dst)),
                 lambda src, dst: timed(scp(remote + src, dst)),
                 shlex.join(scp("SOURCE", remote + "DEST")),
                 shlex.join(scp(remote + "SOURCE", "DEST"))),
            Peer(f"qemu-ga guest-file-write/read ({chunk // 1024} KiB chunks)",
                 lambda src, dst: timed_call(qga.write_file, src, dst, chunk),
                 lambda src, dst: timed_call(qga.read_file, src, dst, chunk),
                 "guest-file-open, guest-file-write (buf-b64) per chunk, guest-file-close",
                 "guest-file-open, guest-file-read (count) until eof, guest-file-close"),
        ]
        if ember:
            all_peers.insert(0, ember)
        rss_before = common.proc_status(agent_proc.pid, "VmRSS") if agent_proc else None

        result["throughput"] = []
        for peer in all_peers:
            result["commands"] += [f"{peer.name}: {command}" for command in peer.commands]
        samples = {}
        failed = set()
        for index in range(runs):
            for peer in all_peers:
                # The download reads the file this peer's upload wrote.
                for direction, action, src, dst in (("host → guest", peer.up, source, up_dest),
                                                    ("guest → host", peer.down, up_dest,
                                                     down_dest)):
                    if peer.name in failed:
                        break
                    try:
                        samples.setdefault((peer.name, direction), []).append(
                            timed_copy(action, src, dst, source, size_mb, check=index == 0))
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        message = f"{peer.name} {direction} was not measured: {error}"
                        result["notes"].append(message)
                        common.log(message)
                        failed.add(peer.name)
        for peer in all_peers:
            for direction in ("host → guest", "guest → host"):
                runs_done = samples.get((peer.name, direction), [])
                if peer.name in failed or not runs_done:
                    continue
                summary = common.summarize(runs_done)
                summary["mb_per_s"] = size_mb * 1.048576 / (summary["median_ms"] / 1e3)
                result["throughput"].append({"peer": peer.name, "direction": direction,
                                             **summary})
        for path in (up_dest, down_dest):
            if os.path.exists(path):
                os.unlink(path)
        if agent_proc:
            result["agent_rss_kib"] = {
                "before": rss_before,
                "after": common.proc_status(agent_proc.pid, "VmRSS"),
                "peak (VmHWM)": common.proc_status(agent_proc.pid, "VmHWM"),
            }

    result["tables"] = tables(result, runs)
    common.write_result("copy", result)


def timed_copy(action, src, dst, source, size_mb, check):
    """Removes dst, warms the page pool, then copies src to dst and returns the
    seconds it took. With check, the copy must equal source byte for byte."""
    if os.path.exists(dst):
        os.unlink(dst)
    warm_memory(2 * size_mb)
    elapsed = action(src, dst)
    if check and not filecmp.cmp(source, dst, shallow=False):
        raise RuntimeError("the copy differs from the source")
    return elapsed


def timed_call(action, *args):
    start = time.monotonic()
    action(*args)
    return time.monotonic() - start


def tables(result, runs):
    rows = []
    by_key = {(entry["peer"], entry["direction"]): entry for entry in result["throughput"]}
    for entry in result["throughput"]:
        ember = by_key.get(("emberctl cp", entry["direction"]))
        rows.append([entry["peer"], entry["direction"], common.fmt_ms(entry["median_ms"]),
                     f"{entry['mb_per_s']:,.0f} MB/s",
                     common.fmt_ratio(entry["mb_per_s"], ember["mb_per_s"]) if ember else "—"])
    out = [{"title": f"Copy of one {result['size_mb']} MiB file over a Unix socket "
                     f"(median of {runs})",
            "header": ["method", "direction", "median time", "throughput",
                       "throughput ÷ ember's"],
            "rows": rows}]
    rss = result.get("agent_rss_kib")
    if rss:
        out.append({"title": "ember-agent resident memory around the copies",
                    "header": ["when", "RSS"],
                    "rows": [[name, common.fmt_kib(kib)] for name, kib in rss.items()]})
    targets = []
    for direction in ("host → guest", "guest → host"):
        ember = by_key.get(("emberctl cp", direction))
        raw = by_key.get(("raw stream (socat, 256 KiB blocks)", direction))
        scp = by_key.get(("scp (OpenSSH, 127.0.0.1)", direction))
        if not ember:
            continue
        fraction = ember["mb_per_s"] / raw["mb_per_s"]
        speedup = ember["mb_per_s"] / scp["mb_per_s"]
        targets.append([f"{direction}: ≥ {TARGET_RAW_FRACTION:.0%} of the raw stream",
                        f"{fraction:.0%}", common.verdict(fraction >= TARGET_RAW_FRACTION)])
        targets.append([f"{direction}: ≥ {TARGET_SCP_SPEEDUP:.0f}× scp", f"{speedup:.1f}×",
                        common.verdict(speedup >= TARGET_SCP_SPEEDUP)])
    if targets:
        out.append({"title": "ember targets", "header": ["what", "measured", "target"],
                    "rows": targets})
    return out


if __name__ == "__main__":
    main()
