"""Cgroup behaviour tested on whichever version the host runs: this v1 host,
and the cgroup v2 VM (tests/vm), where OOM kills come from memory.events."""
import json
import os
import time

from helpers import CGROUP_ROOT, sh, unified_only


def oom_events(runtime, bundle, host_dir, script):
    """Run `script` once `events` watches (it has printed its first stats
    line), so that an OOM cannot come before the watch; the events it printed."""
    bundle.linux["resources"] = {"memory": {"limit": 32 << 20, "swap": 32 << 20}}
    bundle.bind("/out", str(host_dir))
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(sh(f"until [ -e /out/go ]; do sleep 0.05; done; {script}")), cid)
    events = runtime.popen("events", "--interval", "200ms", cid)
    lines = [events.stdout.readline()]
    (host_dir / "go").touch()
    out, _ = events.communicate(timeout=30)
    runtime.delete(cid)
    return [json.loads(line) for line in lines + out.splitlines()], cid


def test_events_report_an_oom_kill(runtime, bundle, host_dir):
    lines, cid = oom_events(runtime, bundle, host_dir,
                            "dd if=/dev/zero of=/dev/null bs=128M count=1; sleep 0.5")
    assert lines[0]["type"] == "stats" and {"type": "oom", "id": cid} in lines


def test_an_oom_kill_of_the_init_itself_is_reported(runtime, bundle, host_dir):
    """The init dies of it: the event must still come out before events ends."""
    lines, cid = oom_events(runtime, bundle, host_dir, "exec dd if=/dev/zero of=/dev/null bs=128M count=1")
    assert {"type": "oom", "id": cid} in lines


def memory_limit_file(cid):
    if unified_only():
        return os.path.join(CGROUP_ROOT, "ocirun", cid, "memory.max")
    return os.path.join(CGROUP_ROOT, "memory", "ocirun", cid, "memory.limit_in_bytes")


def test_update_with_check_before_update_refuses_a_limit_below_usage(runtime, bundle):
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(sh("head -c 8000000 /dev/zero > /dev/shm/f; sleep 100")), cid)
    time.sleep(0.5)  # the tmpfs pages are charged to the container
    result = runtime("update", "-r", "-", cid, input=json.dumps({"memory": {"limit": 1 << 20, "checkBeforeUpdate": True}}))
    assert result.returncode != 0
    assert "update: resources.memory.limit: 1048576 is below the container's current memory usage" in result.stderr
    with open(memory_limit_file(cid)) as f:
        assert f.read().strip() != str(1 << 20)
    runtime.ok("update", "-r", "-", cid, input=json.dumps({"memory": {"limit": 256 << 20, "checkBeforeUpdate": True}}))
    with open(memory_limit_file(cid)) as f:
        assert f.read().strip() == str(256 << 20)
    runtime.delete(cid, force=True)
