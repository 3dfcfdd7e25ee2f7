"""cgroup v2 (unified) behaviour.  This host is cgroup v1, so these run in a
VM with a real v2 kernel that tests/vm/test_cgroup_v2_vm.py boots; here
they are skipped, loudly.  (Device rules on v2: test_device_rules.py, also
run in the VM.)"""
import json
import os

import pytest

from helpers import CGROUP_ROOT, create_fails_cleanly, leftovers, sh, unified_only

pytestmark = pytest.mark.skipif(not unified_only(), reason="needs a cgroup v2 host: run in the VM "
                                                           "(tests/vm/test_cgroup_v2_vm.py)")


def cgroup_file(cid, name):
    with open(os.path.join(CGROUP_ROOT, "ocirun", cid, name)) as f:
        return f.read().strip()


def test_placement_and_delete(runtime, bundle):
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    with open(f"/proc/{runtime.state(cid)['pid']}/cgroup") as f:
        assert f.read().strip() == f"0::/ocirun/{cid}"
    runtime.delete(cid, force=True)
    assert leftovers(runtime, cid) == []


def test_resources_with_v2_files_and_conversions(runtime, bundle):
    bundle.linux["resources"] = {"memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 16 << 20},
                                 "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"},
                                 "pids": {"limit": 40}}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert cgroup_file(cid, "memory.max") == str(64 << 20)
    assert cgroup_file(cid, "memory.swap.max") == str(32 << 20)  # swap alone, not memory+swap
    assert cgroup_file(cid, "memory.low") == str(16 << 20)
    assert cgroup_file(cid, "cpu.weight") == "39"  # runc's conversion of 1024 shares
    assert cgroup_file(cid, "cpu.max") == "50000 100000"
    assert cgroup_file(cid, "cpuset.cpus") == "0"
    assert cgroup_file(cid, "pids.max") == "40"
    runtime.delete(cid, force=True)


def test_pids_limit_is_enforced(runtime, bundle):
    bundle.linux["resources"] = {"pids": {"limit": 8}}
    out = runtime.output(bundle, sh("for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done 2>&1 | head -1; true"))
    assert "Resource temporarily unavailable" in out or "can't fork" in out


def test_update_pause_resume_and_stats(runtime, bundle):
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "100"]), cid)
    runtime.ok("update", "--memory", "48m", "--pids-limit", "20", cid)
    assert cgroup_file(cid, "memory.max") == str(48 << 20) and cgroup_file(cid, "pids.max") == "20"
    runtime.ok("pause", cid)
    assert runtime.status(cid) == "paused" and "frozen 1" in cgroup_file(cid, "cgroup.events")
    runtime.ok("resume", cid)
    assert "frozen 0" in cgroup_file(cid, "cgroup.events")
    data = json.loads(runtime.ok("events", "--stats", cid).stdout)["data"]
    assert data["pids"] == {"current": 1, "limit": 20} and data["memory"]["usage"]["limit"] == 48 << 20
    runtime.delete(cid, force=True)


@pytest.mark.parametrize("resources, mentions", [
    ({"memory": {"swappiness": 10}}, "linux.resources.memory.swappiness: cgroup v2 has no such setting"),
    ({"cpu": {"realtimeRuntime": 1000}}, "linux.resources.cpu.realtimeRuntime: cgroup v2 has no real-time"),
], ids=["swappiness", "realtime"])
def test_what_v2_cannot_do_yet_is_refused(runtime, bundle, resources, mentions):
    bundle.linux["resources"] = resources
    create_fails_cleanly(runtime, bundle, mentions)
