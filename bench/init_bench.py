"""Whole-process time of a PID 1 that runs /bin/true in a fresh PID namespace.
ember-init, tini-static, dumb-init, catatonit and bare /bin/true (the floor)
run in one hyperfine run. ember-init's own start-to-execve time comes from its
boot timings, and the binaries' sizes are recorded too.

Every PID 1 runs chrooted into a test root that is its own tmpfs, with a tmpfs
on its /dev, inside this script's private mount namespace: ember-init mounts,
links device nodes and remounts its root read-only at shutdown, and none of
that may reach the machine's own root or /dev.

Settings: BENCH_INIT_RUNS (default 300), BENCH_INIT_WARMUP (20),
BENCH_INIT_TIMING_RUNS (50).
"""
import os
import shutil
import subprocess

import common

# The namespaces of every measured command, the same for each peer and the floor.
UNSHARE = ["unshare", "--pid", "--mount", "--net", "--uts", "--ipc", "--cgroup", "--fork"]
# The fake kernel command line ember-init reads instead of the machine's.
CMDLINE_TRUE = "quiet -- /bin/true\n"
CMDLINE_TIMINGS = "quiet -- /bin/cat /run/ember/boot-timings\n"
BUSYBOX_APPLETS = ("true", "cat", "sh")
DYNAMIC_LIBS = ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2")

PEERS = [
    # (name, binary on the machine, path in the root, arguments before /bin/true)
    ("tini-static", "/usr/bin/tini-static", "/sbin/tini-static", []),
    ("dumb-init", "/usr/bin/dumb-init", "/sbin/dumb-init", []),
    ("catatonit", "/usr/bin/catatonit", "/sbin/catatonit", ["--"]),
]


def build_root(session, ember_init):
    """Mounts and fills the test root: busybox, the peers and ember-init."""
    root = session.path("root")
    session.mount(["-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs"], root)
    for directory in ("bin", "sbin", "etc", "proc", "sys", "dev", "run", "tmp", "root",
                      "lib/x86_64-linux-gnu", "lib64"):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
    for applet in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", applet))
    for _, source, target, _ in PEERS:
        shutil.copy2(source, root + target)
    for lib in DYNAMIC_LIBS:
        shutil.copy2(lib, root + lib)
    if ember_init:
        # The release binary is the stripped one.
        common.run(["strip", "-o", os.path.join(root, "sbin/ember-init"), ember_init])
    for name, text in (("cmdline-true", CMDLINE_TRUE), ("cmdline-timings", CMDLINE_TIMINGS)):
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    session.mount(["-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs"], os.path.join(root, "dev"))
    return root


def remount_script(session, root):
    """Writes the hyperfine --prepare step: ember-init remounts its root
    read-only at shutdown, which changes the shared tmpfs superblock, so every
    run starts by making the root and its /dev writable again."""
    path = session.path("prepare.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f"mount -o remount,rw '{root}' && mount -o remount,rw '{root}/dev'\n")
    os.chmod(path, 0o755)
    return path


def smoke_check(root, argv, expect_exit_line):
    """Runs one measured command outside hyperfine and returns None when it did
    its job, else a message with its output: a failing PID 1 is reported, not
    timed."""
    common.run(["mount", "-o", "remount,rw", root])
    common.run(["mount", "-o", "remount,rw", os.path.join(root, "dev")])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    output = (out.stdout + out.stderr)[-1500:]
    if expect_exit_line:
        if "ember: exit status 0" not in output:
            return f"no 'ember: exit status 0' line (wait status {out.returncode}): {output}"
    elif out.returncode != 0:
        return f"exited with status {out.returncode}: {output}"
    return None


def boot_timings(root, runs):
    """Runs ember-init with `cat /run/ember/boot-timings` as its entrypoint.
    Returns the seconds from its first step to its last per run, the step
    names, and the seconds between consecutive steps per run."""
    env = dict(os.environ, EMBER_CMDLINE_FILE="/cmdline-timings")
    spans, steps, deltas = [], None, {}
    for _ in range(runs):
        common.run(["mount", "-o", "remount,rw", root])
        common.run(["mount", "-o", "remount,rw", os.path.join(root, "dev")])
        out = subprocess.run(UNSHARE + ["--root", root, "/sbin/ember-init"], env=env,
                             capture_output=True, text=True, timeout=30)
        parsed = []
        for line in out.stdout.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[1].isdigit():
                parsed.append((fields[0], int(fields[1])))
        # The kernel's own start, when listed, is not ember-init's time.
        own = [(name, ns) for name, ns in parsed if "kernel" not in name]
        if len(own) < 2:
            raise RuntimeError("ember-init printed no boot timings; its output was: "
                               + (out.stdout + out.stderr)[-2000:])
        steps = [name for name, _ in own]
        spans.append((own[-1][1] - own[0][1]) / 1e9)
        for (before, start), (after, end) in zip(own, own[1:]):
            deltas.setdefault(f"{before} → {after}", []).append((end - start) / 1e9)
    return spans, steps, deltas


# Targets: ember-init's whole-process time within this of the floor, and its
# stripped size at most this many bytes.
TARGET_OVER_FLOOR_MS = 1.5
TARGET_SIZE_BYTES = 400 * 1000


def tables(result):
    """Formats the medians, overheads, ratios and sizes for BENCHMARKS.md."""
    times = result.get("times", {})
    floor = times.get("floor", {}).get("median_ms")
    ember = times.get("ember-init", {}).get("median_ms")
    rows = []
    for name, summary in times.items():
        median = summary["median_ms"]
        rows.append([name, common.fmt_ms(median),
                     f"{summary['mean_ms']:.2f} ± {summary['stddev_ms']:.2f} ms",
                     common.fmt_ms(median - floor) if floor else "—",
                     common.fmt_ratio(median, floor), common.fmt_ratio(median, ember),
                     summary["runs"]])
    out = [{"title": "Whole-process time of `unshare ... PID1 /bin/true`",
            "header": ["PID 1", "median", "mean ± σ", "over floor", "÷ floor",
                       "÷ ember-init", "runs"],
            "rows": rows}]

    size = result["sizes"].get("ember-init (stripped)")
    target_rows = []
    if ember is not None and floor:
        over = ember - floor
        target_rows.append([f"ember-init within {TARGET_OVER_FLOOR_MS} ms of the floor",
                            common.fmt_ms(over), common.verdict(over <= TARGET_OVER_FLOOR_MS)])
    if size is not None and ember is not None:
        target_rows.append([f"ember-init ≤ {TARGET_SIZE_BYTES:,} bytes stripped",
                            common.fmt_bytes(size), common.verdict(size <= TARGET_SIZE_BYTES)])

    timings = result.get("ember_boot_timings")
    if timings:
        target_rows.append(["ember-init start to entrypoint execve (boot timings, "
                            f"{timings['runs']} runs, steps {' → '.join(timings['steps'])})",
                            common.fmt_ms(timings["median_ms"]), "median"])
    if target_rows:
        out.append({"title": "ember-init targets", "header": ["what", "measured", "target"],
                    "rows": target_rows})
    steps = result.get("ember_boot_steps")
    if steps:
        out.append({"title": "ember-init boot timings between consecutive steps",
                    "header": ["steps", "median", "max", "runs"],
                    "rows": [[name, common.fmt_ms(s["median_ms"]), common.fmt_ms(s["max_ms"]),
                              s["runs"]] for name, s in steps.items()]})
    out.append({"title": "Binary sizes", "header": ["binary", "size"],
                "rows": [[name, common.fmt_bytes(size)]
                         for name, size in result["sizes"].items()]})
    return out


def main():
    common.reexec_in_namespace(["--mount", "--propagation", "private"])
    runs = common.env_int("BENCH_INIT_RUNS", 300)
    warmup = common.env_int("BENCH_INIT_WARMUP", 20, minimum=0)
    timing_runs = common.env_int("BENCH_INIT_TIMING_RUNS", 50)
    ember_init = common.ember_binary("ember-init")
    ember_init_size = common.stripped_size("ember-init")
    result = {"machine": common.machine(), "notes": []}

    with common.Session("init") as session:
        # ember-init creates its ember/ and workload/ cgroups below the
        # cgroup it starts in: keep them in one the session removes.
        common.enter_own_cgroup(session)
        root = build_root(session, ember_init)
        os.environ["EMBER_CMDLINE_FILE"] = "/cmdline-true"
        candidates = [("floor", UNSHARE + ["--root", root, "/bin/true"], False)]
        for name, _, target, args in PEERS:
            candidates.append((name, UNSHARE + ["--root", root, target] + args + ["/bin/true"],
                               False))
        if ember_init:
            candidates.append(("ember-init", UNSHARE + ["--root", root, "/sbin/ember-init"],
                               True))
        else:
            result["notes"].append("ember-init was not built: measured the peers only")
        commands = []
        for name, argv, expect_exit_line in candidates:
            failure = smoke_check(root, argv, expect_exit_line)
            if failure:
                result["notes"].append(f"{name} was not measured: {failure}")
                common.log(f"{name} was not measured: {failure}")
                if name == "ember-init":
                    ember_init = None
                continue
            commands.append((name, " ".join(argv)))
        # --ignore-failure: a PID 1 that powers off with reboot(2) ends its
        # namespace by a signal, and unshare passes that signal on.
        times, command = common.hyperfine(
            session, "init", commands, runs, warmup,
            ["--ignore-failure", "--prepare", remount_script(session, root)])
        result["commands"] = [command]
        result["times"] = times
        if ember_init:
            spans, steps, deltas = boot_timings(root, timing_runs)
            result["ember_boot_timings"] = dict(common.summarize(spans), steps=steps)
            result["ember_boot_steps"] = {name: common.summarize(samples)
                                          for name, samples in deltas.items()}

    result["sizes"] = {
        "ember-init (stripped)": ember_init_size,
        "tini-static": common.file_size("/usr/bin/tini-static"),
        "catatonit": common.file_size("/usr/bin/catatonit"),
        "dumb-init (dynamic)": common.file_size("/usr/bin/dumb-init"),
    }
    result["tables"] = tables(result)
    common.write_result("init", result)


if __name__ == "__main__":
    main()
