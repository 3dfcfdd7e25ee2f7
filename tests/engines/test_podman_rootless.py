"""podman rootless: an unprivileged user's podman (its own user namespace,
made with newuidmap/newgidmap from its /etc/subuid range; conmon and the
runtime run as "root" inside it) with ocirun as the runtime, and with runc
1.1.5, the reference, for each scenario.
"""
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from engine_helpers import need


class RootlessPodman:
    """podman run by `user` on storage in `directory`, with `runtime`."""

    def __init__(self, user, uid, directory, runtime):
        self.user, self.uid, self.directory, self.runtime = user, uid, directory, runtime

    def __call__(self, *args, check=True, timeout=120):
        env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"HOME={self.directory}", f"USER={self.user}",
               f"XDG_RUNTIME_DIR=/run/user/{self.uid}", f"CONTAINERS_CONF={self.directory}/containers.conf"]
        argv = ["runuser", "-u", self.user, "--", *env, "podman", "--root", f"{self.directory}/storage",
                "--runroot", f"{self.directory}/run", "--storage-driver", "vfs", "--runtime", self.runtime,
                *map(str, args)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv[-len(args):])}: exit {result.returncode}: {result.stderr}")
        return result


@pytest.fixture(scope="module")
def rootless_user(rootfs_tar):
    """A user with a /etc/subuid range (useradd gives one), its runtime dir,
    and a directory of its own holding podman's storage and config."""
    need("podman", "conmon", "newuidmap", "useradd", "runuser")
    name = f"ocirun-p{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True).stdout)
    directory = tempfile.mkdtemp(prefix="ocirun-podman-rootless-")
    runtime_dir = f"/run/user/{uid}"
    try:
        os.makedirs(runtime_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(directory, "containers.conf"), "w") as f:
            f.write('[containers]\nnetns = "none"\ndefault_ulimits = []\n'
                    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        shutil.copy(rootfs_tar, os.path.join(directory, "bb.tar"))
        for path in (directory, runtime_dir, *(os.path.join(directory, f) for f in os.listdir(directory))):
            os.chown(path, uid, uid)
        os.chmod(directory, 0o700)
        podman = RootlessPodman(name, uid, directory, "runc")
        podman("import", os.path.join(directory, "bb.tar"), "localhost/bb-rootless:latest")
        yield name, uid, directory
    finally:
        RootlessPodman(name, uid, directory, "runc")("rm", "-a", "-f", "-t", "0", check=False)
        RootlessPodman(name, uid, directory, "runc")("system", "reset", "-f", check=False)
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)  # podman's pause process
        subprocess.run(["userdel", name], check=False)
        for path in ("/etc/subuid", "/etc/subgid"):
            with open(path) as f:
                lines = [line for line in f if not line.startswith(name + ":")]
            with open(path, "w") as f:
                f.writelines(lines)
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(runtime_dir, ignore_errors=True)


IMAGE = "localhost/bb-rootless:latest"


@pytest.fixture
def podman(rootless_user, runtimes, runtime_name):
    name, uid, directory = rootless_user
    return RootlessPodman(name, uid, directory, runtimes[runtime_name])


def test_run_in_the_users_namespace(podman):
    result = podman("run", "--rm", IMAGE, "sh", "-c", "id -u; wc -l < /proc/self/uid_map; exit 3", check=False)
    assert result.returncode == 3, result.stderr
    assert result.stdout.split() == ["0", "2"]  # root inside; the user's id and its subuid range


def test_detached_exec_stop_and_remove(podman):
    try:
        podman("run", "-d", "--name", "rl", IMAGE, "sleep", "60")
        assert podman("exec", "rl", "sh", "-c", "echo in $(id -u)").stdout == "in 0\n"
        assert podman("exec", "--user", "1000", "rl", "id", "-u").stdout == "1000\n"
        assert "sleep 60" in podman("top", "rl").stdout
        podman("stop", "-t", "0", "rl")
    finally:
        podman("rm", "-f", "rl", check=False)
    assert podman("ps", "-aq").stdout == ""


def test_read_only_root_and_a_user(podman):
    result = podman("run", "--rm", "--read-only", "--user", "1000:1000", IMAGE, "sh", "-c",
                    "id -u; touch /x 2>&1; echo done", check=False)
    assert result.stdout.splitlines()[0] == "1000" and "Read-only file system" in result.stdout

