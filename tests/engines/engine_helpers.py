"""What the engine tests share: the image name, running a client, a
daemon of the tests' own, and a client per engine (fixtures: conftest.py)."""
import copy
import os
import shutil
import signal
import subprocess
import time

import pytest

IMAGE = "localhost/ocirun-test-bb:latest"
# podman asks for nofile and nproc 1048576 by default, above this machine's
# hard limits (no CAP_SYS_RESOURCE): stay within them
ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")


def need(*programs):
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (bootstrap.sh test installs them)")


def cgroup_tops():
    """The top-level cgroups of every hierarchy (engines add their parents: libpod_parent, docker...)."""
    tops = set()
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        path = os.path.join("/sys/fs/cgroup", hierarchy)
        if os.path.isdir(path) and not os.path.islink(path):
            tops |= {os.path.join(path, name) for name in os.listdir(path) if os.path.isdir(os.path.join(path, name))}
    return tops


def remove_cgroup_tops_made_since(before):
    """The parent cgroups engines made (empty once their containers are gone)."""
    for top in cgroup_tops() - before:
        for directory, _, _ in sorted(os.walk(top), reverse=True):
            try:
                os.rmdir(directory)
            except OSError:
                pass


def run(argv, check=True, timeout=120, **options):
    options.setdefault("capture_output", True)
    result = subprocess.run(argv, text=True, timeout=timeout, **options)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {result.returncode}\n"
                             f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def with_a_pty(argv, env=None):
    """Run argv under script(1), so that the engine's client sees a terminal."""
    read_end, write_end = os.pipe()  # held open, so the attach never sees EOF early
    try:
        return subprocess.run(["script", "-qec", subprocess.list2cmdline([str(a) for a in argv]), "/dev/null"],
                              stdin=read_end, capture_output=True, text=True, timeout=60, env=env)
    finally:
        os.close(read_end)
        os.close(write_end)


class Podman:
    """podman on storage of the tests' own, with the runtimes given by name
    (name -> path); using(name) picks the one a test runs with."""

    def __init__(self, directory, runtimes):
        self.directory = directory
        directory.mkdir()
        self.conf = directory / "containers.conf"
        self.conf.write_text(f"""[containers]
default_ulimits = [{", ".join(f'"{u}"' for u in ULIMITS)}]
netns = "none"
init_path = "{shutil.which("tini-static") or shutil.which("tini") or "/usr/bin/tini-static"}"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "ocirun"
[engine.runtimes]
{"".join(f'{name} = ["{path}"]{chr(10)}' for name, path in runtimes.items())}""")
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.conf))
        self.storage = ["--root", str(directory / "storage"), "--runroot", str(directory / "run"),
                        "--storage-driver", "vfs"]
        self.base = ["podman", *self.storage, "--runtime", "ocirun"]

    def using(self, runtime):
        other = copy.copy(self)
        other.base = ["podman", *self.storage, "--runtime", runtime]
        other.runtime = runtime
        return other

    def __call__(self, *args, check=True, timeout=120, **options):
        return run(self.base + [str(a) for a in args], check=check, timeout=timeout, env=self.env, **options)


class Daemon:
    """A daemon of the tests' own, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, argv, socket, log):
        self.socket = socket
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not os.path.exists(socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{argv[0]} did not start:\n{open(log).read()[-3000:]}")
            time.sleep(0.1)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Ctr:
    """ctr on a containerd of the tests' own, in namespace ocirun-test."""

    def __init__(self, socket, runtime_binary):
        self.base = ["ctr", "--address", str(socket), "--namespace", "ocirun-test"]
        self.runtime_binary = runtime_binary  # for --runc-binary

    def using(self, runtime_binary):
        other = copy.copy(self)
        other.runtime_binary = runtime_binary
        return other

    def __call__(self, *args, check=True, timeout=120, **options):
        return run(self.base + [str(a) for a in args], check=check, timeout=timeout, **options)


class Docker:
    """Debian's docker client (API 1.41) on the tests' dockerd; run_args()
    gives a container the runtime under test and no network."""

    def __init__(self, socket):
        self.base = ["/usr/bin/docker", "-H", f"unix://{socket}"]
        self.runtime = "ocirun"

    def using(self, runtime):
        other = copy.copy(self)
        other.runtime = runtime
        return other

    def run_args(self):
        """`docker run` with the runtime under test and no network."""
        return ["run", "--runtime", self.runtime, "--network", "none"]

    def __call__(self, *args, check=True, timeout=120, **options):
        return run(self.base + [str(a) for a in args], check=check, timeout=timeout, **options)

