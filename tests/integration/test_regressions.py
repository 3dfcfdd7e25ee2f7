"""Regression tests for bugs found while building the core runtime; each failed before its fix.
(The integration tests of the other files caught more; those stay where their subject is.)"""
import os
import time

import pytest

from helpers import sh, wait_until


def test_container_process_does_not_inherit_ignored_sigpipe(runtime, bundle):
    # Python ignores SIGPIPE and SIGXFSZ; an ignored disposition survives execve.
    out = runtime.output(bundle, sh("grep SigIgn /proc/self/status"))
    ignored = int(out.split()[1], 16)
    assert not ignored & (1 << (13 - 1)), f"SIGPIPE ignored in the container: {out}"
    assert not ignored & (1 << (25 - 1)), f"SIGXFSZ ignored in the container: {out}"


def test_start_is_not_blocked_by_the_lock_create_held(runtime, bundle):
    # The init inherited create's flocked fd on the state directory, so start
    # waited for the lock forever.
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["/bin/true"]))
    result = runtime("start", cid, timeout=10)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("bad_id", ["x\n", "caf\u00e9"])
def test_ids_with_a_trailing_newline_or_non_ascii_letters_are_refused(runtime, bundle, bad_id):
    # `$` in the first id check matched before a trailing newline; `\w` took Unicode letters
    result = runtime("create", "-b", bundle, bad_id)
    assert result.returncode == 1
    assert result.stderr.startswith("ocirun: invalid container id") and result.stderr.count("\n") == 1
    assert not os.path.isdir(runtime.root) or os.listdir(runtime.root) == []


def test_a_busy_cgroup_is_shared_with_a_warning_and_its_processes_left_alone(runtime, bundle):
    # Cleaning up after a failed create used to SIGKILL whatever was in the
    # cgroup.  runc 1.1 warns and goes on (issue 15): then delete must leave
    # the others' processes, and their cgroup, alone.
    cid = runtime.new_id()
    busy = f"/sys/fs/cgroup/pids/ocirun/{cid}"
    os.makedirs(busy)
    bystander = os.fork()
    if bystander == 0:
        os.execv("/bin/sleep", ["sleep", "30"])
    try:
        with open(f"{busy}/cgroup.procs", "w") as f:
            f.write(str(bystander))
        result = runtime("create", "-b", bundle.set_args(["sleep", "100"]), cid)
        assert result.returncode == 0 and "container's cgroup is not empty" in result.stderr, result.stderr
        assert result.stderr.startswith("ocirun: warning: ")
        runtime.delete(cid, force=True)
        assert os.waitpid(bystander, os.WNOHANG) == (0, 0), "the bystander was killed"
        assert os.path.isdir(busy)
        assert cid not in runtime.list_ids() and not os.path.exists(os.path.join(runtime.root, cid))
    finally:
        os.kill(bystander, 9)
        os.waitpid(bystander, 0)
        os.rmdir(busy)


def test_an_init_ready_before_stage_a_reports_its_pid_is_still_joined(bundle):
    # Stage A sends INIT_PID and the init sends INIT_READY on one channel; when
    # the init won that race, create returned no pid and never joined the
    # cgroup (`run -d` then said "it is stopped", and delete -f left the init).
    # Here a stage A stand-in sends them in that order, on purpose.
    from ocirun import config
    from ocirun import cgroups
    from ocirun.process.channel import Channel
    from ocirun.process.launcher import Inherited, Result, await_child
    from ocirun.process.plan import Options, prepare_create

    bundle.save()
    cid = f"race-{os.getpid()}"
    plan = prepare_create(cid, config.load(bundle.path), Options())
    cgroup = cgroups.for_container(None, cid)
    parent_end, child_end = Channel.pair()
    stage_a = os.fork()
    if stage_a == 0:
        try:
            init = os.fork()
            if init == 0:
                time.sleep(30)
                os._exit(0)
            child_end.send_ready([])
            time.sleep(0.05)
            child_end.send_init_pid(init)
        finally:
            os._exit(0)
    child_end.close()
    result = Result()
    await_child(plan, Inherited(cgroup), stage_a, parent_end, result)
    init_pid = result.pid
    try:
        assert init_pid and os.path.exists(f"/proc/{init_pid}")
        assert cgroup.pids() == [init_pid]
    finally:
        cgroup.signal_all(9)
        wait_until(lambda: not cgroup.pids(), what="the stand-in init to exit")
        cgroup.destroy()
