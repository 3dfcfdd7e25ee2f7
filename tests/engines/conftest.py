"""Engines driving ocirun as their runtime: podman (with conmon), containerd
(ctr and the runc shim), Docker, buildah.  Each engine runs on state of the
tests' own (storage, sockets, data roots in a temp directory), started here
and stopped at the end; images come from the busybox rootfs of bundles/,
without a registry.  Containers stay off the network.

Every test here is marked `engines`; run them alone with `pytest tests/engines`.
"""
import os
import shutil
import subprocess
import tarfile

import pytest

from ocirun import bundles

HERE = os.path.dirname(__file__)
IMAGE = "localhost/ocirun-test-bb:latest"
# podman asks for nofile and nproc 1048576 by default, above this machine's
# hard limits (no CAP_SYS_RESOURCE): stay within them
ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.engines)


@pytest.fixture(scope="session")
def ocirun_binary(ocirun_command):
    """Engines take one executable path, not a command line."""
    if len(ocirun_command) != 1:
        pytest.skip(f"engines need ocirun as one executable, not {ocirun_command}")
    return ocirun_command[0]


def need(*programs):
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (bootstrap.sh test installs them)")


@pytest.fixture(scope="session")
def engine_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="session")
def rootfs_tar(engine_dir):
    """The busybox rootfs as a tar, what `podman import` makes an image of."""
    bundle = engine_dir / "bb-bundle"
    bundles.build_busybox_bundle(str(bundle), ["sh"])
    path = engine_dir / "bb.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(bundle / "rootfs", arcname=".")
    return path


def run(argv, check=True, timeout=120, **options):
    options.setdefault("capture_output", True)
    result = subprocess.run(argv, text=True, timeout=timeout, **options)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {result.returncode}\n"
                             f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


class Podman:
    """podman on storage of the tests' own, with ocirun as the runtime `ocirun`."""

    def __init__(self, directory, ocirun):
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
ocirun = ["{ocirun}"]
""")
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.conf))
        self.base = ["podman", "--root", str(directory / "storage"), "--runroot", str(directory / "run"),
                     "--storage-driver", "vfs", "--runtime", "ocirun"]

    def __call__(self, *args, check=True, timeout=120, **options):
        return run(self.base + [str(a) for a in args], check=check, timeout=timeout, env=self.env, **options)


@pytest.fixture(scope="session")
def podman(engine_dir, ocirun_binary, rootfs_tar):
    need("podman", "conmon")
    engine = Podman(engine_dir / "podman", ocirun_binary)
    engine("import", rootfs_tar, IMAGE)
    yield engine
    engine("rm", "-a", "-f", "-t", "0", check=False)
    engine("system", "reset", "-f", check=False)
