"""Exec latency, in one run:
(a) `true` executed in a loop by one client process (build/bench/ember-bench):
    libember against ember-agent on a Unix socket, qemu-ga's guest-exec plus
    guest-exec-status polling on one persistent connection, and a local
    fork+exec of `sh -c true` as the floor;
(b) one whole `emberctl exec -- true` invocation against `ssh` to sshd on
    127.0.0.1, timed by hyperfine with a new connection and through a
    ControlMaster;
(c) idle RSS of ember-agent, qemu-ga and sshd, and binary sizes.

Settings: BENCH_EXEC_LOOP (default 2000 iterations), BENCH_EXEC_HYPERFINE_RUNS
(100), BENCH_EXEC_WARMUP (20).
"""
import os
import shlex
import subprocess
import time

import common
import peers

# Targets: (a) libember exec loop median, (b) speed-up over multiplexed ssh,
# (c) agent idle RSS and stripped size.
TARGET_LOOP_MS = 0.8
TARGET_SSH_SPEEDUP = 5.0
TARGET_RSS_KIB = 1024
TARGET_AGENT_BYTES = 600 * 1000


def run_driver(argv):
    """Runs ember-bench and returns its samples in seconds, by operation."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed with status {out.returncode}: "
                           f"{out.stderr.strip()}")
    samples = {}
    for line in out.stdout.splitlines():
        operation, ns = line.split()
        samples.setdefault(operation, []).append(int(ns) / 1e9)
    return samples


def start_agent(session, result):
    """Starts ember-agent on a Unix socket and checks that an exec works, or
    records why ember is not measured and returns None."""
    agent = common.ember_binary("ember-agent")
    emberctl = common.ember_binary("emberctl")
    if not agent or not emberctl:
        result["notes"].append("ember-agent or emberctl was not built: measured the peers only")
        return None
    socket_path = session.path("agent.sock")
    proc = session.spawn([agent, "--listen", f"unix:{socket_path}"], log_name="agent.log")
    address = f"unix:{socket_path}"
    check = subprocess.run([emberctl, "-c", address, "wait-ready", "--timeout", "5"],
                           capture_output=True, text=True, timeout=30)
    smoke = subprocess.run([emberctl, "-c", address, "exec", "--", "echo", "ember-ok"],
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0 or smoke.returncode != 0 or smoke.stdout != "ember-ok\n":
        message = (f"ember was not measured: `emberctl exec -- echo ember-ok` gave status "
                   f"{smoke.returncode}, output {smoke.stdout!r} {smoke.stderr.strip()!r}")
        result["notes"].append(message)
        common.log(message)
        return None
    return {"proc": proc, "address": address, "emberctl": emberctl}


def start_control_master(session, sshd):
    """Starts an ssh ControlMaster and waits until it accepts clients."""
    control_path = session.path("ssh", "control")
    master = session.spawn(sshd.ssh_argv(["-M", "-N", "-o", f"ControlPath={control_path}"]),
                           log_name="ssh-master.log")
    check = sshd.ssh_argv(["-o", f"ControlPath={control_path}", "-O", "check"])
    deadline = time.monotonic() + peers.START_TIMEOUT_S
    while subprocess.run(check, capture_output=True).returncode != 0:
        if master.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the ssh ControlMaster did not start; see ssh-master.log")
        time.sleep(0.05)
    return control_path


def loop_benchmarks(session, driver, agent, qga, loops, warmup, result):
    """(a): the exec loops of one client process."""
    loop = {}
    command = [driver, "-w", str(warmup), "exec-floor", str(loops)]
    result["commands"].append(shlex.join(command))
    loop["fork+exec floor (sh -c true)"] = run_driver(command)["exec"]
    command = [driver, "-w", str(warmup), "exec-qga", qga.socket_path, str(loops)]
    result["commands"].append(shlex.join(command))
    loop["qemu-ga guest-exec + guest-exec-status"] = run_driver(command)["exec"]
    if agent:
        command = [driver, "-w", str(warmup), "exec-ember", agent["address"], str(loops)]
        try:
            loop["ember (libember exec)"] = run_driver(command)["exec"]
            result["commands"].append(shlex.join(command))
        except RuntimeError as error:
            result["notes"].append(f"the libember exec loop was not measured: {error}")
    return {name: common.summarize(samples) for name, samples in loop.items()}


def main():
    common.reexec_in_namespace(["--mount", "--propagation", "private"])
    loops = common.env_int("BENCH_EXEC_LOOP", 2000)
    hyperfine_runs = common.env_int("BENCH_EXEC_HYPERFINE_RUNS", 100)
    warmup = common.env_int("BENCH_EXEC_WARMUP", 20, minimum=0)
    driver = common.DRIVER
    result = {"machine": common.machine(), "notes": [], "commands": []}

    with common.Session("exec") as session:
        agent = start_agent(session, result)
        qga = peers.QemuGa(session, {"guest-exec", "guest-exec-status"})
        qga.close()
        sshd = peers.Sshd(session)
        rss = {"qemu-ga idle": qga.rss_kib(), "sshd idle (listener)": sshd.rss_kib()}
        if agent:
            rss["ember-agent idle"] = common.proc_status(agent["proc"].pid, "VmRSS")

        result["loop"] = loop_benchmarks(session, driver, agent, qga, loops, warmup, result)
        rss["qemu-ga after the loop"] = qga.rss_kib()
        if agent:
            rss["ember-agent after the loop"] = common.proc_status(agent["proc"].pid, "VmRSS")
            rss["ember-agent peak (VmHWM)"] = common.proc_status(agent["proc"].pid, "VmHWM")

        control_path = start_control_master(session, sshd)
        commands = [
            ("ssh, new connection", shlex.join(sshd.ssh_argv() + ["true"])),
            ("ssh, ControlMaster", shlex.join(
                sshd.ssh_argv(["-o", f"ControlPath={control_path}", "-o", "ControlMaster=no"])
                + ["true"])),
        ]
        if agent:
            commands.append(("emberctl exec", shlex.join(
                [agent["emberctl"], "-c", agent["address"], "exec", "--", "true"])))
        times, command = common.hyperfine(session, "exec", commands, hyperfine_runs,
                                          min(warmup, 10))
        result["commands"].insert(0, command)
        result["invocation"] = times
        result["rss_kib"] = rss

    result["sizes"] = {
        "ember-agent (stripped, static)": common.stripped_size("ember-agent"),
        "emberctl (stripped, static)": common.stripped_size("emberctl"),
        "qemu-ga (dynamic)": common.file_size("/usr/sbin/qemu-ga"),
        "sshd (dynamic)": common.file_size("/usr/sbin/sshd"),
        "ssh (dynamic)": common.file_size("/usr/bin/ssh"),
    }
    result["tables"] = tables(result, agent is not None)
    common.write_result("exec", result)


def tables(result, ember_measured):
    """Formats the three parts and the targets for BENCHMARKS.md."""
    loop = result["loop"]
    floor = loop["fork+exec floor (sh -c true)"]["median_ms"]
    ember_loop = loop.get("ember (libember exec)", {}).get("median_ms")
    out = [{"title": "(a) `true` in a loop from one client process",
            "header": ["client", "median", "mean ± σ", "÷ floor", "÷ ember", "iterations"],
            "rows": [[name, common.fmt_ms(s["median_ms"]),
                      f"{s['mean_ms']:.3f} ± {s['stddev_ms']:.3f} ms",
                      common.fmt_ratio(s["median_ms"], floor),
                      common.fmt_ratio(s["median_ms"], ember_loop), s["runs"]]
                     for name, s in loop.items()]}]

    invocation = result["invocation"]
    ember_cli = invocation.get("emberctl exec", {}).get("median_ms")
    out.append({"title": "(b) one whole command invocation (hyperfine)",
                "header": ["command", "median", "mean ± σ", "÷ emberctl exec", "runs"],
                "rows": [[name, common.fmt_ms(s["median_ms"]),
                          f"{s['mean_ms']:.2f} ± {s['stddev_ms']:.2f} ms",
                          common.fmt_ratio(s["median_ms"], ember_cli), s["runs"]]
                         for name, s in invocation.items()]})

    out.append({"title": "(c) resident memory (VmRSS from /proc/PID/status)",
                "header": ["process", "RSS"],
                "rows": [[name, common.fmt_kib(kib)] for name, kib in result["rss_kib"].items()]})
    out.append({"title": "Binary sizes", "header": ["binary", "size"],
                "rows": [[name, common.fmt_bytes(size)]
                         for name, size in result["sizes"].items()]})

    if ember_measured:
        targets = []
        if ember_loop is not None:
            targets.append([f"(a) libember exec loop ≤ {TARGET_LOOP_MS} ms",
                            common.fmt_ms(ember_loop), common.verdict(ember_loop <= TARGET_LOOP_MS)])
        ssh_mux = invocation["ssh, ControlMaster"]["median_ms"]
        if ember_cli:
            speedup = ssh_mux / ember_cli
            targets.append([f"(b) emberctl exec ≥ {TARGET_SSH_SPEEDUP:.0f}× faster than "
                            "multiplexed ssh", f"{speedup:.1f}×",
                            common.verdict(speedup >= TARGET_SSH_SPEEDUP)])
        idle = result["rss_kib"].get("ember-agent idle")
        if idle is not None:
            targets.append([f"(c) ember-agent idle RSS ≤ {TARGET_RSS_KIB} KiB",
                            common.fmt_kib(idle), common.verdict(idle <= TARGET_RSS_KIB)])
        size = result["sizes"]["ember-agent (stripped, static)"]
        if size is not None:
            targets.append([f"ember-agent ≤ {TARGET_AGENT_BYTES:,} bytes stripped",
                            common.fmt_bytes(size), common.verdict(size <= TARGET_AGENT_BYTES)])
        out.append({"title": "ember targets", "header": ["what", "measured", "target"],
                    "rows": targets})
    return out


if __name__ == "__main__":
    main()
