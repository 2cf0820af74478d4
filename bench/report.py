"""Regenerates the measured parts of BENCHMARKS.md from bench/results/*.json.

Each result file contains "machine" (facts recorded at the run), "commands" (the
exact command lines), "notes" (what was not measured and why) and "tables"
(title, header, rows already formatted by the benchmark script). The text of
BENCHMARKS.md between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->`
is replaced; everything outside those markers, including other sections, is
kept as written. A marker pair missing from the file is appended at its end.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BENCHMARKS = os.path.join(ROOT, "BENCHMARKS.md")
ORDER = ("init", "exec", "copy", "freeze", "rootfs")


def render_table(table):
    lines = []
    if table.get("title"):
        lines += [f"**{table['title']}**", ""]
    lines.append("| " + " | ".join(table["header"]) + " |")
    lines.append("|" + "|".join("---" for _ in table["header"]) + "|")
    for row in table["rows"]:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return lines + [""]


def render_machine(machine):
    load = f"load average {machine.get('loadavg_start', 0):.2f} at the start, " \
           f"{machine.get('loadavg_end', 0):.2f} at the end"
    tools = "; ".join(machine[key] for key in ("qemu", "qemu_ga", "openssh", "hyperfine")
                      if machine.get(key))
    return (f"Measured {machine.get('date_utc')} UTC at commit {machine.get('git_commit')}: "
            f"{machine.get('cpus')} × {machine.get('cpu_model')}, Linux {machine.get('kernel')}, "
            f"Debian {machine.get('debian')}; {load}. Tools: {tools}.")


def render(result):
    lines = [render_machine(result.get("machine", {})), ""]
    for table in result.get("tables", []):
        lines += render_table(table)
    for note in result.get("notes", []):
        lines.append(f"- {note}")
    if result.get("notes"):
        lines.append("")
    commands = result.get("commands", [])
    if commands:
        lines += ["Commands:", "", "```"] + commands + ["```", ""]
    return "\n".join(lines)


def replace_block(text, name, body):
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    block = f"{begin}\n{body}{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip("\n") + f"\n\n{block}\n"


def main():
    try:
        with open(BENCHMARKS) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    for name in ORDER:
        path = os.path.join(RESULTS, f"{name}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            text = replace_block(text, name, render(json.load(f)))
    with open(BENCHMARKS + ".tmp", "w") as f:
        f.write(text)
    os.replace(BENCHMARKS + ".tmp", BENCHMARKS)
    print(f"bench: updated {BENCHMARKS}", file=sys.stderr)


if __name__ == "__main__":
    main()
