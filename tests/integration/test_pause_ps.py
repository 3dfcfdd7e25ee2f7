"""pause, resume and ps, as runc's: the freezer on cgroup v1, cgroup.freeze
on v2 (run in the VM by tests/vm)."""
import json
import time

from helpers import leftovers, sh, wait_for_file, wait_until

COUNTER = sh("i=0; while true; do i=$((i+1)); echo $i > /out/count; sleep 0.02; done")


def count(host_dir):
    text = (host_dir / "count").read_text().strip()
    return int(text) if text else 0


def advances(host_dir, seconds=0.3):
    before = count(host_dir)
    time.sleep(seconds)
    return count(host_dir) != before


def test_pause_freezes_and_resume_thaws(runtime, bundle, host_dir):
    bundle.bind("/out", str(host_dir))
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(COUNTER), cid)
    wait_for_file(host_dir / "count")
    runtime.ok("pause", cid)
    assert runtime.status(cid) == "paused"
    time.sleep(0.05)  # a write in flight when the freeze came
    assert not advances(host_dir)
    runtime.ok("resume", cid)
    assert runtime.status(cid) == "running"
    # thawed: it counts again, however long a loaded machine takes to run it
    wait_until(lambda: advances(host_dir, 0.1), timeout=10, what="the counter to advance after resume")
    runtime.delete(cid, force=True)


def test_pause_and_resume_only_from_the_right_state(runtime, bundle):
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert "cannot pause container" in runtime("pause", cid).stderr
    runtime.start(cid)
    assert "cannot resume container" in runtime("resume", cid).stderr
    runtime.ok("pause", cid)
    result = runtime("pause", cid)
    assert result.returncode == 1 and "it is paused, not running" in result.stderr
    assert "not stopped: paused" in runtime("delete", cid).stderr
    runtime.delete(cid, force=True)  # a frozen init still dies
    assert leftovers(runtime, cid) == []


def test_ps_lists_the_containers_processes(runtime, bundle):
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(sh("sleep 100 & exec sleep 101")), cid)
    pid = runtime.state(cid)["pid"]
    pids = json.loads(runtime.ok("ps", "--format", "json", cid).stdout)
    assert pid in pids and len(pids) == 2
    table = runtime.ok("ps", cid).stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"] and len(table) == 3
    custom = runtime.ok("ps", cid, "-o", "pid,args").stdout.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"] and any("sleep 101" in line for line in custom)
    runtime.delete(cid, force=True)
