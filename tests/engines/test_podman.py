"""podman --runtime ocirun (conmon in between), and runc as the reference:
the scenarios of issue 6, each checked on output, exit status or what the
kernel shows."""
import concurrent.futures
import os
import shutil
import socket
import subprocess
import tarfile
import time

import pytest

from engine_helpers import IMAGE, with_a_pty


def cgroup_file(pid, controller, name):
    """A file of the cgroup the kernel has `pid` in, for a v1 controller (or v2)."""
    with open(f"/proc/{pid}/cgroup") as f:
        entries = dict(line.rstrip("\n").split(":", 2)[1:] for line in f)
    if controller in entries:
        return open(os.path.join("/sys/fs/cgroup", controller, entries[controller].lstrip("/"), name)).read().strip()
    return open(os.path.join("/sys/fs/cgroup", entries[""].lstrip("/"), name)).read().strip()


def container_pid(podman, name):
    return int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout)


@pytest.fixture
def name(podman):
    names = []

    def new(prefix="t"):
        names.append(f"{prefix}-{os.urandom(4).hex()}")
        return names[-1]
    yield new
    for n in names:
        podman("rm", "-f", "-t", "0", n, check=False)


def test_run_rm_with_output_and_exit_status(podman):
    assert podman("run", "--rm", IMAGE, "echo", "hello from ocirun").stdout == "hello from ocirun\n"
    assert podman("run", "--rm", IMAGE, "sh", "-c", "exit 42", check=False).returncode == 42


def test_detached_then_exec_top_pause_stop_rm(podman, name):
    c = name()
    podman("run", "-d", "--name", c, IMAGE, "sleep", "1000")
    assert podman("exec", c, "sh", "-c", "echo in-$(hostname)").stdout.startswith("in-")
    assert podman("exec", c, "sh", "-c", "exit 5", check=False).returncode == 5
    out = with_a_pty(podman.base + ["exec", "-it", c, "sh", "-c", "tty; echo exec-tty"], podman.env)
    assert "/dev/pts/" in out.stdout and "exec-tty" in out.stdout, out
    top = podman("top", c).stdout
    assert "sleep 1000" in top
    podman("pause", c)
    assert podman("inspect", "--format", "{{.State.Status}}", c).stdout.strip() == "paused"
    assert "FROZEN" in cgroup_file(container_pid(podman, c), "freezer", "freezer.state")
    podman("unpause", c)
    assert podman("inspect", "--format", "{{.State.Status}}", c).stdout.strip() == "running"
    podman("stop", "-t", "1", c)
    assert podman("inspect", "--format", "{{.State.Status}}", c).stdout.strip() == "exited"
    podman("rm", c)
    assert podman("ps", "-a", "--filter", f"name={c}", "-q").stdout == ""


def test_run_it_has_a_pty(podman):
    out = with_a_pty(podman.base + ["run", "-it", "--rm", IMAGE, "sh", "-c", "tty; echo it-ok"], podman.env)
    assert "/dev/pts/0" in out.stdout and "it-ok" in out.stdout, out


def test_init_read_only_user_caps(podman):
    assert podman("run", "--rm", "--init", IMAGE, "cat", "/proc/1/cmdline").stdout.startswith("/run/podman-init")
    ro = podman("run", "--rm", "--read-only", IMAGE, "sh", "-c", "touch /x 2>&1; touch /tmp/y && echo tmp-ok",
                check=False)
    assert "Read-only file system" in ro.stdout and "tmp-ok" in ro.stdout
    assert podman("run", "--rm", "--user", "1000:1000", IMAGE, "sh", "-c", "id -u; id -g").stdout.split() == \
        ["1000", "1000"]
    caps = podman("run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_RAW", IMAGE, "grep", "CapEff",
                  "/proc/self/status").stdout
    assert int(caps.split()[1], 16) == 1 << 13  # CAP_NET_RAW alone


def test_memory_and_pids_limits_in_the_cgroup(podman, name):
    c = name()
    podman("run", "-d", "--name", c, "--memory", "64m", "--pids-limit", "33", IMAGE, "sleep", "1000")
    pid = container_pid(podman, c)
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(pid, "pids", "pids.max") == "33"
    podman("update", "--memory", "96m", c)
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(96 << 20)


def test_hostname_env_workdir_tmpfs_volume_device(podman, tmp_path):
    volume = tmp_path / "vol"
    volume.mkdir()
    out = podman("run", "--rm", "--hostname", "engine-host", "--env", "GREETING=hi", "--workdir", "/var",
                 "--tmpfs", "/scratch:size=1m", "-v", f"{volume}:/data", "--device", "/dev/zero:/dev/ocirun-zero",
                 IMAGE, "sh", "-c",
                 "hostname; echo $GREETING; pwd; grep ' /scratch ' /proc/mounts | cut -d' ' -f3;"
                 " echo written > /data/out; head -c3 /dev/ocirun-zero | wc -c").stdout.split()
    assert out == ["engine-host", "hi", "/var", "tmpfs", "3"]
    assert (volume / "out").read_text() == "written\n"


def test_no_new_privileges_userns_and_ulimit(podman):
    assert "NoNewPrivs:\t1" in podman("run", "--rm", "--security-opt", "no-new-privileges", IMAGE, "cat",
                                      "/proc/self/status").stdout
    out = podman("run", "--rm", "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536", IMAGE, "sh", "-c",
                 "id -u; cat /proc/self/uid_map").stdout.split()
    assert out[0] == "0" and out[1:4] == ["0", "100000", "65536"]
    # any --ulimit replaces default_ulimits: nproc must be given again, within the host's limit
    out = podman("run", "--rm", "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=4096:4096", IMAGE, "sh", "-c",
                 "ulimit -n; ulimit -Hn").stdout.split()
    assert out == ["1024", "2048"]


def test_kill_usr1_restart_and_wait(podman, name):
    c = name()
    podman("run", "-d", "--name", c, IMAGE, "sh", "-c",
           "trap 'echo got-usr1; exit 9' USR1; while :; do sleep 0.1; done")
    time.sleep(0.5)
    podman("kill", "-s", "USR1", c)
    assert podman("wait", c).stdout.strip() == "9"
    assert "got-usr1" in podman("logs", c).stdout
    podman("restart", "-t", "1", c)
    assert podman("inspect", "--format", "{{.State.Status}}", c).stdout.strip() == "running"
    podman("kill", "-s", "USR1", c)
    assert podman("wait", c).stdout.strip() == "9"
    assert podman("logs", c).stdout.count("got-usr1") == 2


def test_twenty_containers_in_parallel(podman):
    names = [f"par-{os.urandom(3).hex()}-{i}" for i in range(20)]

    def one(n):
        return podman("run", "-d", "--name", n, IMAGE, "sleep", "1000", check=False)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, names))
    try:
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
        running = podman("ps", "--format", "{{.Names}}").stdout.split()
        assert set(names) <= set(running)
    finally:
        podman("rm", "-f", "-t", "0", *names, check=False)
    assert not set(names) & set(podman("ps", "-a", "--format", "{{.Names}}").stdout.split())


def test_a_runtime_error_reaches_the_user(podman):
    """conmon hands podman what the runtime said: the missing executable is named."""
    result = podman("run", "--rm", IMAGE, "/no/such/program", check=False)
    assert result.returncode != 0
    assert '"/no/such/program"' in result.stderr and "no such file or directory" in result.stderr


@pytest.fixture(scope="module")
def notify_image(podman_engine, rootfs_tar, tmp_path_factory):
    """The busybox image plus a static sd_notify (busybox cannot reach a unix datagram socket)."""
    directory = tmp_path_factory.mktemp("notify-image")
    probe = directory / "sd_notify"
    source = os.path.join(os.path.dirname(__file__), "..", "integration", "probes", "sd_notify.c")
    subprocess.run(["gcc", "-static", "-O2", "-o", str(probe), source], check=True)
    archive = directory / "image.tar"
    shutil.copy(rootfs_tar, archive)
    with tarfile.open(archive, "a") as tar:
        tar.add(probe, arcname="./bin/sd_notify")
    podman_engine("import", archive, "localhost/ocirun-test-notify:latest")
    yield "localhost/ocirun-test-notify:latest"
    podman_engine("rmi", "-f", "localhost/ocirun-test-notify:latest", check=False)


def test_sdnotify_container_reaches_podmans_notify_socket(podman, notify_image, name, tmp_path):
    """podman --sdnotify=container hands NOTIFY_SOCKET to the runtime: the
    container's READY=1 comes out on the socket podman itself was given."""
    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host.bind(str(tmp_path / "host.sock"))
    host.settimeout(20)
    c = name()
    podman.env = dict(podman.env, NOTIFY_SOCKET=str(tmp_path / "host.sock"))
    podman("run", "-d", "--name", c, "--sdnotify=container", notify_image, "sh", "-c",
           "echo $NOTIFY_SOCKET; sleep 0.5; sd_notify READY=1; sleep 1000")
    messages = []
    while b"READY=1" not in messages:
        messages += host.recv(4096).split(b"\n")
    host.close()
    assert podman("logs", c).stdout.split("\n")[0] == "/run/notify/notify.sock"  # the runtime's, inside
