"""linux.resources on this host's cgroup v1 controllers: read back from the
cgroup files and enforced by the kernel."""
import json
import os

import pytest

from helpers import CGROUP_ROOT, create_fails_cleanly, sh

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(CGROUP_ROOT, "memory")),
                                reason="no v1 memory controller on this host")


def cgroup_file(cid, controller, name):
    with open(os.path.join(CGROUP_ROOT, controller, "ocirun", cid, name)) as f:
        return f.read().strip()


def root_disk():
    """major, minor of the block device holding / (throttling needs a real disk)."""
    dev = os.stat("/").st_dev
    return os.major(dev), os.minor(dev)


def test_values_land_in_the_cgroup_files(runtime, bundle):
    major, minor = root_disk()
    bundle.linux["resources"] = {
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20, "swappiness": 10,
                   "disableOOMKiller": False},
        "cpu": {"shares": 512, "period": 100000, "quota": 20000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 32},
        "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]},
    }
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(cid, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert cgroup_file(cid, "memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert cgroup_file(cid, "memory", "memory.swappiness") == "10"
    assert cgroup_file(cid, "cpu", "cpu.shares") == "512"
    assert cgroup_file(cid, "cpu", "cpu.cfs_quota_us") == "20000"
    assert cgroup_file(cid, "cpuset", "cpuset.cpus") == "0"
    assert cgroup_file(cid, "pids", "pids.max") == "32"
    assert f"{major}:{minor} 1048576" in cgroup_file(cid, "blkio", "blkio.throttle.read_bps_device")
    runtime.delete(cid)


def test_pids_limit_is_enforced(runtime, bundle):
    bundle.linux["resources"] = {"pids": {"limit": 8}}
    out = runtime.output(bundle, sh("for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done 2>&1 | head -1; kill $(jobs -p) 2>/dev/null; true"))
    assert "Resource temporarily unavailable" in out or "can't fork" in out


def test_memory_limit_is_enforced(runtime, bundle):
    bundle.linux["resources"] = {"memory": {"limit": 32 << 20, "swap": 32 << 20}}
    result = runtime.run(runtime.new_id(), bundle.set_args(["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"]))
    assert result.returncode == 128 + 9  # the OOM killer's SIGKILL


def test_a_value_the_kernel_refuses_names_the_field(runtime, bundle):
    bundle.linux["resources"] = {"cpu": {"quota": 500}}  # below the kernel's 1 ms minimum
    create_fails_cleanly(runtime, bundle.set_args(["true"]),
                         "linux.resources.cpu.quota: write 500 to cpu.cfs_quota_us: Invalid argument")


def test_resources_not_implemented_yet_are_refused_by_name(runtime, bundle):
    bundle.linux["resources"] = {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]}
    create_fails_cleanly(runtime, bundle, "linux.resources.hugepageLimits")


def test_update_with_runc_flags_and_a_resources_file(runtime, bundle, tmp_path):
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "100"]), cid)
    runtime.ok("update", "--memory", "64m", "--memory-swap", "128m", "--cpu-share", "256",
               "--pids-limit", "20", cid)
    assert cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(cid, "memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert cgroup_file(cid, "cpu", "cpu.shares") == "256"
    assert cgroup_file(cid, "pids", "pids.max") == "20"
    # raising both above the current memsw, then lowering both: each needs its own order
    for limit, swap in ((256 << 20, 512 << 20), (32 << 20, 48 << 20)):
        resources = tmp_path / "resources.json"
        resources.write_text(json.dumps({"memory": {"limit": limit, "swap": swap}}))
        runtime.ok("update", "-r", str(resources), cid)
        assert cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(limit)
        assert cgroup_file(cid, "memory", "memory.memsw.limit_in_bytes") == str(swap)
    runtime.ok("update", "-r", "-", cid, input=json.dumps({"pids": {"limit": 7}}))
    assert cgroup_file(cid, "pids", "pids.max") == "7"
    runtime.delete(cid, force=True)


def test_update_errors(runtime, bundle):
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "100"]), cid)
    assert "update: resources.hugepageLimits: cgroup resource limits not supported yet" in \
        runtime("update", "-r", "-", cid, input='{"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}').stderr
    assert "update: resources.cpu.quota: write 500 to cpu.cfs_quota_us: Invalid argument" in \
        runtime("update", "--cpu-quota", "500", cid).stderr
    runtime.kill(cid, "KILL")
    runtime.wait_status(cid, "stopped")
    assert "it is stopped" in runtime("update", "--memory", "64m", cid).stderr
    runtime.delete(cid)


def test_events_stats_reads_the_cgroup(runtime, bundle):
    bundle.linux["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(sh("sleep 100 & exec sleep 101")), cid)
    event = json.loads(runtime.ok("events", "--stats", cid).stdout)
    assert (event["type"], event["id"]) == ("stats", cid)
    data = event["data"]
    assert data["pids"] == {"current": 2, "limit": 50}
    assert data["memory"]["usage"]["limit"] == 64 << 20 and data["memory"]["usage"]["usage"] > 0
    assert data["cpu"]["usage"]["total"] > 0 and len(data["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert "ioServiceBytesRecursive" in data["blkio"]
    runtime.delete(cid, force=True)


def test_events_repeat_until_the_container_stops(runtime, bundle):
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "1"]), cid)
    lines = runtime.ok("events", "--interval", "300ms", cid, timeout=10).stdout.splitlines()
    assert len(lines) >= 2 and all(json.loads(line)["type"] == "stats" for line in lines)
    runtime.delete(cid)


def test_events_report_an_oom_kill(runtime, bundle):
    bundle.linux["resources"] = {"memory": {"limit": 32 << 20, "swap": 32 << 20}}
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(sh(
        "sleep 0.5; dd if=/dev/zero of=/dev/null bs=128M count=1; sleep 0.5")), cid)
    lines = [json.loads(line) for line in runtime.ok("events", "--interval", "10s", cid, timeout=20).stdout.splitlines()]
    assert {"type": "oom", "id": cid} in lines
    runtime.delete(cid)
