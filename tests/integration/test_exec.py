"""exec: a process in the namespaces, cgroup and security settings of a
running container, as runc exec makes it (engines run `exec` for podman
exec, ctr task exec and docker exec)."""
import json
import os
import subprocess
import time

import pytest

from helpers import USER_MAP, Bundle, add_user_namespace, read
from test_console import ConsoleSocket


@pytest.fixture
def running(runtime, bundle):
    """A container whose init sleeps, with a hostname of its own."""
    bundle.config["hostname"] = "exec-target"
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "1000"]), cid)
    yield cid
    runtime.delete(cid, force=True)


def test_output_exit_status_and_namespaces(runtime, running):
    out = runtime.ok("exec", running, "sh", "-c", "hostname; echo $$; cat /proc/1/cmdline").stdout.split("\n")
    assert out[0] == "exec-target"
    assert int(out[1]) > 1  # in the container's pid namespace, beside its init
    assert out[2].startswith("sleep")
    assert runtime("exec", running, "sh", "-c", "exit 7").returncode == 7
    assert runtime("exec", running, "sh", "-c", "kill -9 $$").returncode == 128 + 9


def test_the_process_joins_the_containers_cgroup(runtime, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    runtime.ok("exec", "--detach", "--pid-file", str(pid_file), running, "sleep", "100")
    pid = int(pid_file.read_text())
    init = runtime.state(running)["pid"]
    assert read(f"/proc/{pid}/cgroup") == read(f"/proc/{init}/cgroup")
    for ns in ("pid", "mnt", "uts", "ipc", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init}/ns/{ns}")
    assert pid in json.loads(runtime.ok("ps", "--format", "json", running).stdout)


def test_flags_user_env_cwd_caps_and_no_new_privs(runtime, running):
    out = runtime.ok("exec", "--user", "1000:1001", "--additional-gids", "5", "-e", "FOO=bar", "--cwd", "/tmp",
                     "--no-new-privs", running, "sh", "-c",
                     "id -u; id -g; id -G; echo $FOO; pwd; grep -E '^(NoNewPrivs|CapEff)' /proc/self/status"
                     ).stdout.split("\n")
    assert out[:5] == ["1000", "1001", "1001 5", "bar", "/tmp"]
    assert "NoNewPrivs:\t1" in out and "CapEff:\t0000000000000000" in out
    # --cap adds to the bounding, effective and permitted sets of the container's process
    base = runtime.ok("exec", running, "grep", "CapBnd", "/proc/self/status").stdout
    added = runtime.ok("exec", "--cap", "CAP_SYS_ADMIN", running, "grep", "CapBnd", "/proc/self/status").stdout
    assert int(added.split()[1], 16) == int(base.split()[1], 16) | (1 << 21)


def test_a_process_file(runtime, running, tmp_path):
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh", "-c", "echo $A; id -u; ulimit -n"], "cwd": "/",
                                   "env": ["A=from-file", "PATH=/bin"], "user": {"uid": 7, "gid": 7},
                                   "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]}))
    assert runtime.ok("exec", "--process", str(process), running).stdout.split() == ["from-file", "7", "256"]
    process.write_text(json.dumps({"args": ["true"]}))
    result = runtime("exec", "--process", str(process), running)
    assert result.returncode == 255 and "exec: process" in result.stderr and "cwd" in result.stderr


def test_the_containers_seccomp_profile_applies(runtime, bundle):
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "1000"]), cid)
    result = runtime("exec", cid, "mkdir", "/tmp/x")
    assert result.returncode != 0 and "Operation not permitted" in result.stderr + result.stdout
    runtime.delete(cid, force=True)


def test_exec_in_a_user_namespace(runtime, public_dir, tmp_path):
    bundle = Bundle(os.path.join(public_dir, "bundle"), ["sleep", "1000"])  # reachable by the mapped root
    add_user_namespace(bundle)
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle, cid)
    runtime.ok("exec", "-d", "--pid-file", str(tmp_path / "exec.pid"), cid, "sleep", "100")
    pid = int((tmp_path / "exec.pid").read_text())
    uid_line = [line for line in read(f"/proc/{pid}/status").splitlines() if line.startswith("Uid:")][0]
    assert uid_line.split()[1] == str(USER_MAP[0]["hostID"])  # root inside is the mapped uid outside
    assert runtime.ok("exec", cid, "id", "-u").stdout.strip() == "0"
    runtime.delete(cid, force=True)


def test_wrong_states(runtime, running, bundle):
    runtime.ok("pause", running)
    result = runtime("exec", running, "true")
    assert result.returncode == 255 and "cannot exec in a paused container" in result.stderr
    # the new process joins the frozen cgroup: it runs once the container is resumed
    late = runtime.popen("exec", "--ignore-paused", "-d", running, "true")
    time.sleep(0.3)
    assert late.poll() is None
    runtime.ok("resume", running)
    assert late.wait(10) == 0
    runtime.kill(running, "KILL")
    runtime.wait_status(running, "stopped")
    result = runtime("exec", running, "true")
    assert result.returncode == 255 and "it is stopped" in result.stderr
    result = runtime("exec", "no-such-container", "true")
    assert result.returncode == 255 and "does not exist" in result.stderr


def test_a_missing_executable_is_named(runtime, running):
    result = runtime("exec", running, "/no/such/program")
    assert result.returncode == 255
    assert result.stderr.strip() == 'ocirun: exec: "/no/such/program": no such file or directory'


def test_a_terminal(runtime, running, tmp_path):
    with ConsoleSocket(tmp_path / "console.sock") as console:
        runtime.ok("exec", "-t", "--console-socket", console.path, running, "sh", "-c", "tty; echo on-tty")
        assert console.output().replace("\r", "").split("\n")[:2] == ["/dev/pts/0", "on-tty"]
    # in the foreground the runtime relays the pty itself (test_console.py)
    result = runtime("exec", "-d", "-t", running, "true")
    assert result.returncode == 255 and "needs --console-socket" in result.stderr


def test_foreground_exec_forwards_signals(runtime, running):
    proc = runtime.popen("exec", running, "sh", "-c", "trap 'echo got-usr1; exit 3' USR1; while :; do sleep 0.05; done")
    time.sleep(0.5)
    proc.send_signal(10)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 3 and "got-usr1" in out


def test_preserve_fds(runtime, running, tmp_path):
    """fd 3 of ocirun exec stays open in the new process with --preserve-fds 1, and only then."""
    out = tmp_path / "fd3"

    def exec_with_fd3(*args):
        # a shell gives ocirun its fd 3: this process's own fd 3 is pytest's
        return subprocess.run(["sh", "-c", 'exec "$@" 3>>"$FD3"', "sh", *runtime.argv("exec", *args)],
                              env=dict(os.environ, FD3=str(out)), capture_output=True, text=True, timeout=30)
    assert exec_with_fd3("--preserve-fds", "1", running, "sh", "-c", "echo through-fd3 >&3").returncode == 0
    assert exec_with_fd3(running, "sh", "-c", "echo leaked >&3").returncode != 0
    assert out.read_text() == "through-fd3\n"


def test_exec_into_sub_cgroups(ocirun_and_runc, bundle):
    """exec --cgroup PATH (every hierarchy) or CONTROLLERS:PATH (v1): a
    sub-cgroup of the container's, never above it, never made."""
    import uuid

    from helpers import CGROUP_ROOT, unified_only
    rt = ocirun_and_runc
    path = f"/oci-test-sub-{uuid.uuid4().hex[:8]}"
    bundle.linux["cgroupsPath"] = path
    cid = rt.new_id()
    rt.run(cid, bundle.set_args(["sleep", "100"]), "-d")
    hierarchies = [""] if unified_only() else ["memory", "cpu", "pids"]
    made = [os.path.join(CGROUP_ROOT, h, path.lstrip("/"), "sub") for h in hierarchies]
    try:
        for directory in made:
            os.mkdir(directory)
        result = rt("exec", "--cgroup", "..", cid, "true")
        assert result.returncode != 0 and " .. is not a sub cgroup path" in result.stderr, result.stderr
        result = rt("exec", "--cgroup", "nonexistent", cid, "true")
        assert result.returncode != 0 and "/nonexistent/cgroup.procs: no such file" in result.stderr
        own = rt.ok("exec", "--cgroup", "/", cid, "cat", "/proc/self/cgroup").stdout
        assert "/sub" not in own
        if unified_only():
            inside = rt.ok("exec", "--cgroup", "sub", cid, "cat", "/proc/self/cgroup").stdout
            assert inside == f"0::{path}/sub\n"
        else:
            assert "unknown controller" in rt("exec", "--cgroup", "whaaat:/", cid, "true").stderr
            inside = rt.ok("exec", "--cgroup", "memory:sub", "--cgroup", "pids:sub", cid,
                           "cat", "/proc/self/cgroup").stdout.splitlines()
            controllers_in_sub = {line.split(":")[1] for line in inside if line.endswith(f"{path}/sub")}
            assert controllers_in_sub == {"memory", "pids"}, inside
        # delete --force reaches what lives in a sub-cgroup, and removes it
        rt.ok("exec", "-d", "--cgroup", "sub" if unified_only() else "memory:sub", cid, "sleep", "100")
        rt.delete(cid, force=True)
        assert not any(os.path.exists(os.path.dirname(d)) for d in made)
    finally:
        rt("delete", "--force", cid)
        for directory in made:
            if os.path.isdir(directory):
                os.rmdir(directory)
