"""Lifecycle hooks (config.md "POSIX-platform Hooks", runtime.md steps 3-13):
when each phase runs, in which namespaces, with what state on stdin, and what
a failing or slow hook does to the lifecycle."""
import json
import os
import time

import pytest

from helpers import leftovers, sh, wait_until

CREATE_PHASES = ("prestart", "createRuntime", "createContainer")
ALL_PHASES = CREATE_PHASES + ("startContainer", "poststart", "poststop")


def host_sh(bundle):
    """The bundle's busybox by its host path: hooks of every phase but
    startContainer resolve their path in the runtime's namespace."""
    return os.path.join(bundle.rootfs, "bin", "sh")


def hook(bundle, phase, script, **fields):
    path = "/bin/sh" if phase == "startContainer" else host_sh(bundle)
    return {"path": path, "args": ["sh", "-c", script], **fields}


def recording_hook(bundle, phase, out):
    """Appends its phase to <out>/order and keeps its stdin, its mount and pid
    namespaces and the comm of the state's pid.  startContainer runs in the
    container, where `out` is bound at /out."""
    where = "/out" if phase == "startContainer" else str(out)
    script = (f"cat > {where}/{phase}.json; readlink /proc/self/ns/mnt > {where}/{phase}.mnt; "
              f"readlink /proc/self/ns/pid > {where}/{phase}.pidns; "
              f"pid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/' {where}/{phase}.json); "
              f"cat /proc/$pid/comm > {where}/{phase}.comm 2>/dev/null; echo {phase} >> {where}/order")
    return hook(bundle, phase, script)


def read(path):
    with open(path) as f:
        return f.read().strip()


def test_each_phase_runs_in_order_where_and_with_the_state_the_spec_gives(runtime, bundle, host_dir):
    bundle.set_args(["sleep", "1000"])
    bundle.bind("/out", str(host_dir))
    bundle.config["annotations"] = {"org.example.hooks": "yes"}
    bundle.config["hooks"] = {phase: [recording_hook(bundle, phase, host_dir)] for phase in ALL_PHASES}
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    assert read(host_dir / "order").split() == list(CREATE_PHASES)
    host_pid = runtime.state(cid)["pid"]
    container_mnt = os.readlink(f"/proc/{host_pid}/ns/mnt")
    container_pidns = os.readlink(f"/proc/{host_pid}/ns/pid")
    runtime.start(cid)
    runtime.delete(cid, force=True)

    assert read(host_dir / "order").split() == list(ALL_PHASES)
    host_mnt = os.readlink("/proc/self/ns/mnt")
    host_pidns = os.readlink("/proc/self/ns/pid")
    for phase in ALL_PHASES:
        state = json.loads(read(host_dir / f"{phase}.json"))
        assert (state["id"], state["bundle"]) == (cid, bundle.path), phase
        assert state["annotations"] == {"org.example.hooks": "yes"}, phase
        in_container = phase in ("createContainer", "startContainer")
        assert read(host_dir / f"{phase}.mnt") == (container_mnt if in_container else host_mnt), phase
        # the runtime's own hooks in the host's pid namespace: the parent that made the
        # container's for its next child (launcher._fork_init) has put its own back
        assert read(host_dir / f"{phase}.pidns") == (container_pidns if in_container else host_pidns), phase
        expected_status = {"poststart": "running", "poststop": "stopped"}.get(phase, "created")
        assert state["status"] == expected_status, phase
        if phase != "poststop":
            # the pid as seen from where the hook runs
            assert state["pid"] == (1 if in_container else host_pid), phase
    # startContainer runs before the exec, poststart after it
    assert read(host_dir / "startContainer.comm") == "ocirun:init"
    assert read(host_dir / "poststart.comm") == "sleep"
    assert leftovers(runtime, cid) == []


def test_args_env_and_nothing_else_reach_the_hook(runtime, bundle, host_dir):
    bundle.set_args(["true"])
    bundle.config["hooks"] = {"createRuntime": [{
        "path": host_sh(bundle),
        "args": ["sh", "-c", f'echo "$0 $1" > {host_dir}/args; echo "$FOO|${{PYTEST_CURRENT_TEST-unset}}|${{HOME-unset}}" > {host_dir}/env',
                 "zero", "one"],
        "env": ["FOO=bar"]}]}
    assert runtime.run(runtime.new_id(), bundle).returncode == 0
    assert read(host_dir / "args") == "zero one"
    # the hook's env only: nothing of ocirun's own (pytest sets PYTEST_CURRENT_TEST there)
    assert read(host_dir / "env") == "bar|unset|unset"


@pytest.mark.parametrize("phase", CREATE_PHASES)
def test_failing_create_hook_fails_create_and_leaves_nothing(runtime, bundle, host_dir, phase):
    bundle.set_args(["sleep", "1000"])
    bundle.config["hooks"] = {
        phase: [hook(bundle, phase, "echo something broke >&2; exit 3"),
                hook(bundle, phase, f"touch {host_dir}/second-hook-ran")],
        "poststop": [hook(bundle, "poststop", f"touch {host_dir}/poststop-ran")],
    }
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle, cid)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert f"hook {phase}[0]" in line and "exit status 3" in line and "something broke" in line, line
    assert not (host_dir / "second-hook-ran").exists()
    # runtime.md: a failed create hook stops the container and goes on at destroy, then poststop
    assert (host_dir / "poststop-ran").exists()
    assert leftovers(runtime, cid) == []


def test_hook_timeout_kills_it_and_fails_create(runtime, bundle, host_dir):
    bundle.set_args(["true"])
    bundle.config["hooks"] = {"createRuntime": [
        hook(bundle, "createRuntime", f"echo $$ > {host_dir}/hook.pid; exec sleep 30", timeout=1)]}
    cid = runtime.new_id()
    began = time.monotonic()
    result = runtime("create", "-b", bundle, cid)
    assert result.returncode == 1 and "hook createRuntime[0]" in result.stderr
    assert "timed out after 1s" in result.stderr
    assert time.monotonic() - began < 10
    assert not os.path.exists(f"/proc/{read(host_dir / 'hook.pid')}/comm"), "the hook was not killed"
    assert leftovers(runtime, cid) == []


def test_failing_start_container_hook_fails_start_and_stops_the_container(runtime, bundle, host_dir):
    bundle.set_args(sh("touch /out/user-process-ran; sleep 1000"))
    bundle.bind("/out", str(host_dir))
    bundle.config["hooks"] = {"startContainer": [hook(bundle, "startContainer", "echo no ldconfig >&2; exit 1")]}
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    result = runtime("start", cid)
    assert result.returncode == 1
    assert "hook startContainer[0] /bin/sh: exit status 1: no ldconfig" in result.stderr
    runtime.wait_status(cid, "stopped")
    assert not (host_dir / "user-process-ran").exists()
    runtime.delete(cid)
    assert leftovers(runtime, cid) == []


def test_failing_poststart_hook_is_a_warning_and_the_rest_goes_on(runtime, bundle, host_dir, tmp_path):
    bundle.set_args(["sleep", "1000"])
    bundle.config["hooks"] = {"poststart": [
        hook(bundle, "poststart", "exit 7"),
        hook(bundle, "poststart", f"touch {host_dir}/second-poststart-ran")]}
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    result = runtime("start", cid)
    assert result.returncode == 0, result.stderr
    assert "warning: error running hook poststart[0]" in result.stderr and "exit status 7" in result.stderr
    assert (host_dir / "second-poststart-ran").exists()
    assert runtime.status(cid) == "running"
    # with --log the warning goes to the log, as runc's do
    log = tmp_path / "log.json"
    runtime.delete(cid, force=True)
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    result = runtime("start", cid, global_args=("--log", str(log), "--log-format", "json"))
    assert result.returncode == 0 and result.stderr == ""
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "warning" and "hook poststart[0]" in entry["msg"]
    runtime.delete(cid, force=True)


def test_failing_poststop_hook_is_a_warning_and_delete_completes(runtime, bundle, host_dir):
    bundle.set_args(["true"])
    bundle.config["hooks"] = {"poststop": [
        hook(bundle, "poststop", "exit 2"),
        hook(bundle, "poststop", f"touch {host_dir}/second-poststop-ran")]}
    cid = runtime.new_id()
    result = runtime.run(cid, bundle)
    assert result.returncode == 0
    assert "warning: error running hook poststop[0]" in result.stderr and "exit status 2" in result.stderr
    assert (host_dir / "second-poststop-ran").exists()
    assert leftovers(runtime, cid) == []


def test_hooks_are_those_of_create_time_config(runtime, bundle, host_dir):
    """Editing config.json after create changes nothing for start and delete."""
    bundle.set_args(["sleep", "1000"])
    bundle.config["hooks"] = {"poststop": [hook(bundle, "poststop", f"touch {host_dir}/poststop-ran")]}
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    bundle.config["hooks"] = {"poststop": [hook(bundle, "poststop", f"touch {host_dir}/edited")]}
    bundle.save()
    runtime.start(cid)
    runtime.delete(cid, force=True)
    assert (host_dir / "poststop-ran").exists() and not (host_dir / "edited").exists()


def test_delete_of_a_created_container_runs_poststop(runtime, bundle, host_dir):
    bundle.set_args(["true"])
    bundle.config["hooks"] = {"poststop": [hook(bundle, "poststop", f"cat > {host_dir}/poststop.json")]}
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.delete(cid)
    wait_until(lambda: (host_dir / "poststop.json").exists(), what="poststop output")
    assert json.loads(read(host_dir / "poststop.json"))["status"] == "stopped"


def test_poststart_state_says_running_even_when_the_process_is_already_gone(runtime, bundle, host_dir):
    """Regression: the poststart state was read live, so a process that had
    already exited (here `true`) made it say stopped, without a pid."""
    bundle.set_args(["true"])
    bundle.config["hooks"] = {"poststart": [hook(bundle, "poststart", f"cat >> {host_dir}/poststart.json")]}
    for _ in range(5):
        (host_dir / "poststart.json").unlink(missing_ok=True)
        cid = runtime.new_id()
        runtime.create(cid, bundle)
        pid = runtime.state(cid)["pid"]
        runtime.start(cid)
        state = json.loads(read(host_dir / "poststart.json"))
        assert (state["status"], state.get("pid")) == ("running", pid)
        runtime.delete(cid, force=True)


def test_start_container_hooks_run_under_the_seccomp_filter(ocirun_and_runc, bundle, tmp_path):
    """startContainer hooks run in the container as its process will: with
    its seccomp filter (runc's order), so a hook cannot do what the process
    may not; the error is worded as runc's."""
    bundle.process["noNewPrivileges"] = True
    bundle.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/made"]}]}
    result = ocirun_and_runc.run(ocirun_and_runc.new_id(), bundle.set_args(["true"]))
    assert result.returncode != 0
    assert "error running hook" in result.stderr and "signal: bad system call" in result.stderr, result.stderr
    assert not os.path.exists(os.path.join(bundle.rootfs, "tmp", "made"))
