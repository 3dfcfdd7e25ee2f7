"""Engines driving ocirun as their runtime: podman (with conmon), containerd
(ctr and the runc shim), Docker, buildah.  Each engine runs on state of the
tests' own (storage, sockets, data roots in a temp directory), started here
and stopped at the end; images come from the busybox rootfs of bundles/,
without a registry.  Containers stay off the network.

Every test here is marked `engines`; run them alone with `pytest tests/engines`.
"""
import json
import os
import shutil
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # so test modules can `import engine_helpers`

from engine_helpers import (IMAGE, Ctr, Daemon, Docker, Podman, cgroup_tops, need,  # noqa: E402
                            remove_cgroup_tops_made_since)
from ocirun import bundles  # noqa: E402

HERE = os.path.dirname(__file__)


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


@pytest.fixture(scope="session")
def runtimes(ocirun_binary):
    """The runtimes every engine is given: ocirun, and runc as the reference
    the same scenarios must behave like (each test runs with both)."""
    found = {"ocirun": ocirun_binary}
    if shutil.which("runc"):
        found["runc"] = shutil.which("runc")
    return found


@pytest.fixture(params=["ocirun", "runc"])
def runtime_name(request, runtimes):
    if request.param not in runtimes:
        pytest.skip("runc, the reference, is not installed")
    return request.param


@pytest.fixture(scope="session")
def engine_dir(tmp_path_factory):
    """A directory for the engines' state; at the end, the parent cgroups the
    engines made (empty by then) go too."""
    before = cgroup_tops()
    yield tmp_path_factory.mktemp("engines")
    remove_cgroup_tops_made_since(before)


@pytest.fixture(scope="session")
def rootfs_tar(engine_dir):
    """The busybox rootfs as a tar, what `podman import` makes an image of."""
    bundle = engine_dir / "bb-bundle"
    bundles.build_busybox_bundle(str(bundle), ["sh"])
    path = engine_dir / "bb.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(bundle / "rootfs", arcname=".")
    return path


@pytest.fixture(scope="session")
def podman_engine(engine_dir, runtimes, rootfs_tar):
    need("podman", "conmon")
    engine = Podman(engine_dir / "podman", runtimes)
    engine("import", rootfs_tar, IMAGE)
    yield engine
    engine("rm", "-a", "-f", "-t", "0", check=False)
    engine("system", "reset", "-f", check=False)


@pytest.fixture(scope="session")
def oci_archive(podman_engine, engine_dir):
    path = engine_dir / "bb-oci.tar"
    podman_engine("save", "--format", "oci-archive", "-o", path, IMAGE)
    return path


@pytest.fixture(scope="session")
def containerd(engine_dir):
    need("containerd", "ctr", "containerd-shim-runc-v2")
    directory = engine_dir / "containerd"
    directory.mkdir()
    socket = directory / "containerd.sock"
    (directory / "config.toml").write_text(f"""version = 2
root = "{directory}/root"
state = "{directory}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{socket}"
""")
    # the shim and ctr keep fifos, sockets and the runtime's --root under
    # /run/containerd whatever the config says
    runtime_state_existed = os.path.exists("/run/containerd")
    daemon = Daemon(["containerd", "--config", str(directory / "config.toml")], str(socket),
                    str(directory / "containerd.log"))
    yield daemon
    daemon.stop()
    if not runtime_state_existed:
        shutil.rmtree("/run/containerd", ignore_errors=True)
    else:
        shutil.rmtree("/run/containerd/runc/ocirun-test", ignore_errors=True)


@pytest.fixture(scope="session")
def ctr_client(containerd, runtimes, oci_archive):
    client = Ctr(containerd.socket, runtimes["ocirun"])
    client("image", "import", "--base-name", IMAGE.rsplit(":", 1)[0], oci_archive)
    yield client
    for task in client("task", "ls", "-q", check=False).stdout.split():
        client("task", "kill", "-s", "KILL", task, check=False)
        client("task", "rm", "-f", task, check=False)
    for container in client("container", "ls", "-q", check=False).stdout.split():
        client("container", "rm", container, check=False)


@pytest.fixture(scope="session")
def docker_client(containerd, engine_dir, runtimes, podman_engine):
    need("dockerd", "/usr/bin/docker")
    directory = engine_dir / "docker"
    directory.mkdir()
    socket = directory / "docker.sock"
    (directory / "daemon.json").write_text(json.dumps({
        # dockerd's own "runc" is runc from PATH, the reference
        "runtimes": {"ocirun": {"path": runtimes["ocirun"]}}, "data-root": f"{directory}/data",
        "exec-root": f"{directory}/exec", "pidfile": f"{directory}/docker.pid", "hosts": [f"unix://{socket}"],
        "bridge": "none", "iptables": False, "ip-forward": False, "ip-masq": False, "storage-driver": "vfs"}))
    daemon = Daemon(["dockerd", "--config-file", str(directory / "daemon.json"), f"--containerd={containerd.socket}"],
                    str(socket), str(directory / "dockerd.log"))
    client = Docker(socket)
    try:
        archive = engine_dir / "bb-docker.tar"
        podman_engine("save", "-o", archive, IMAGE)
        client("load", "-i", archive)
        yield client
    finally:
        ids = client("ps", "-aq", check=False).stdout.split()
        if ids:
            client("rm", "-f", *ids, check=False)
        daemon.stop()



@pytest.fixture
def podman(podman_engine, runtime_name):
    return podman_engine.using(runtime_name)


@pytest.fixture
def ctr(ctr_client, runtimes, runtime_name):
    return ctr_client.using(runtimes[runtime_name])


@pytest.fixture
def docker(docker_client, runtime_name):
    return docker_client.using(runtime_name)
