"""libember as installed users get it: the static library built with the
machine's compiler, its header and its pkg-config file."""
import os
import subprocess

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_path(*parts):
    """A path under the build directory (EMBER_BUILD, default build/)."""
    return os.path.join(ROOT_DIR, os.environ.get("EMBER_BUILD", "build"), *parts)


def test_pkg_config_file():
    env = dict(os.environ, PKG_CONFIG_PATH=build_path("lib", "pkgconfig"))
    r = subprocess.run(["pkg-config", "--cflags", "--libs", "libember"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "-lember" in r.stdout.split()
    include_flags = [flag for flag in r.stdout.split() if flag.startswith("-I")]
    assert any(flag.endswith("/include/ember") for flag in include_flags), r.stdout
    r = subprocess.run(["pkg-config", "--static", "--libs", "libember"], capture_output=True,
                       text=True, env=env)
    assert "-lprotobuf-c" in r.stdout.split(), r.stdout


def test_client_built_with_host_compiler(agent, short_dir):
    binary = os.path.join(short_dir, "client")
    r = subprocess.run(["cc", "-std=gnu11", "-Wall", "-Werror", "-o", binary,
                        os.path.join(ROOT_DIR, "tests/agent/libember_client/client.c"),
                        "-I" + os.path.join(ROOT_DIR, "host/libember"),
                        build_path("lib", "libember.a"), "-lprotobuf-c"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([binary, agent.addr], input=b"fed through stdin\n", capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "version:1"
    assert lines[1].startswith("session:")
    assert len(lines[1]) > len("session:")
    assert "out:fed through stdin" in lines
    assert "err:done" in lines
    assert lines[-1] == "status:9"
