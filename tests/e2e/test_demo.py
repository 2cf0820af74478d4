"""`make demo` keeps working as the components change: scripts/demo.sh runs
every step against a Debian minbase VM in a directory of the test's own and
leaves no VM behind."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The first run on a machine also runs debootstrap and fetches the kernel.
DEMO_TIMEOUT_S = 900


def test_demo_runs_every_step(tmp_path):
    env = dict(os.environ, EMBER_DEMO_DIR=str(tmp_path / "demo"))
    proc = subprocess.run([os.path.join(ROOT, "scripts", "demo.sh"), "run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in output
    assert "line 3 at " in output
    assert "checksums match" in output
    assert "frozen   / ext4 /dev/vda" in output
    assert "thawed   / ext4 /dev/vda" in output
    assert "RNG reseeded" in output
    assert "entrypoint: started on ember-demo" in output
    assert "emberctl wait: entrypoint exit status 0" in output
    assert "console: ember: exit status 0" in output
    # Cleaned up: no QEMU PID file and no disk image left.
    assert not (tmp_path / "demo" / "qemu.pid").exists()
    assert not (tmp_path / "demo" / "root.ext4").exists()
