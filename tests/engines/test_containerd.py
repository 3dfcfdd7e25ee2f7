"""containerd 1.6 with its runc shim running ocirun, and runc as the reference
(`ctr run --runc-binary`, which is what the shim's BinaryName option and a
Kubernetes RuntimeClass set)."""
import os
import time

from engine_helpers import IMAGE, with_a_pty


def task_pid(ctr, container):
    for line in ctr("task", "ls").stdout.splitlines()[1:]:
        name, pid, _status = line.split()
        if name == container:
            return int(pid)
    raise AssertionError(f"no task {container}")


def cgroup_value(pid, controller, name):
    with open(f"/proc/{pid}/cgroup") as f:
        entries = dict(line.rstrip("\n").split(":", 2)[1:] for line in f)
    with open(os.path.join("/sys/fs/cgroup", controller, entries[controller].lstrip("/"), name)) as f:
        return f.read().strip()


def test_run_rm_with_output_and_exit_status(ctr):
    runtime = ["--runc-binary", ctr.runtime_binary]
    assert ctr("run", *runtime, "--rm", IMAGE, "c-out", "echo", "hello from ctr").stdout == "hello from ctr\n"
    assert ctr("run", *runtime, "--rm", IMAGE, "c-status", "sh", "-c", "exit 4", check=False).returncode == 4


def test_detached_exec_ps_pause_kill_rm(ctr):
    c = f"c-{os.urandom(3).hex()}"
    ctr("run", "-d", "--runc-binary", ctr.runtime_binary, "--memory-limit", str(64 << 20), IMAGE, c, "sleep", "1000")
    try:
        pid = task_pid(ctr, c)
        assert cgroup_value(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert ctr("task", "exec", "--exec-id", "e1", c, "sh", "-c", "echo exec-ok; exit 3",
                   check=False).stdout == "exec-ok\n"
        assert ctr("task", "exec", "--exec-id", "e2", c, "sh", "-c", "exit 3", check=False).returncode == 3
        # ctr 1.6 has no run --user: the user goes with the exec
        assert ctr("task", "exec", "--exec-id", "e3", "--user", "1000", c, "id", "-u").stdout.strip() == "1000"
        assert str(pid) in ctr("task", "ps", c).stdout
        ctr("task", "pause", c)
        assert "PAUSED" in ctr("task", "ls").stdout
        assert cgroup_value(pid, "freezer", "freezer.state") == "FROZEN"
        ctr("task", "resume", c)
        assert "RUNNING" in ctr("task", "ls").stdout
        ctr("task", "kill", "-s", "KILL", c)
        deadline = time.monotonic() + 10
        while "STOPPED" not in ctr("task", "ls").stdout:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        ctr("task", "rm", "-f", c, check=False)
        ctr("container", "rm", c, check=False)
    assert c not in ctr("container", "ls", "-q").stdout.split()


def test_tty(ctr):
    out = with_a_pty(ctr.base + ["run", "-t", "--rm", "--runc-binary", ctr.runtime_binary, IMAGE, "c-tty", "sh", "-c",
                                 "tty; echo tty-ok"])
    assert "/dev/pts/0" in out.stdout and "tty-ok" in out.stdout, out


def test_bind_mount(ctr, tmp_path):
    out = ctr("run", "--rm", "--runc-binary", ctr.runtime_binary,
              "--mount", f"type=bind,src={tmp_path},dst=/data,options=rbind:rw",
              IMAGE, "c-bind", "sh", "-c", "echo through > /data/f; echo done").stdout
    assert out == "done\n" and (tmp_path / "f").read_text() == "through\n"


def test_a_runtime_error_reaches_the_user(ctr):
    """containerd's shim reads the runtime's error from --log (JSON lines) only."""
    result = ctr("run", "--rm", "--runc-binary", ctr.runtime_binary, IMAGE, "c-error", "/no/such/program",
                 check=False)
    assert result.returncode != 0
    assert '/no/such/program' in result.stderr and "no such file or directory" in result.stderr
    ctr("container", "rm", "c-error", check=False)


def test_stop_and_remove_a_task_whose_process_has_exited(ctr):
    """The shim sends `kill --all ID KILL` when it handles the exit; then the
    task is killed again with --all (as containerd's CRI does to stop a
    container) and removed.  The shim reads a refusal of that kill as an
    unknown error unless the runtime says "container not running": the CRI
    then retries, and stopping a pod hangs."""
    c = f"c-{os.urandom(3).hex()}"
    ctr("run", "-d", "--runc-binary", ctr.runtime_binary, IMAGE, c, "sh", "-c", "exit 0")
    try:
        deadline = time.monotonic() + 10
        while "STOPPED" not in ctr("task", "ls").stdout:
            assert time.monotonic() < deadline, ctr("task", "ls").stdout
            time.sleep(0.1)
        started = time.monotonic()
        ctr("task", "kill", "-a", "-s", "KILL", c, timeout=30)
        ctr("task", "rm", c, timeout=30)
        ctr("container", "rm", c, timeout=30)
        assert time.monotonic() - started < 10
    finally:
        ctr("task", "rm", "-f", c, check=False)
        ctr("container", "rm", c, check=False)
    assert c not in ctr("container", "ls", "-q").stdout.split()
