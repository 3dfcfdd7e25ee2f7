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


def test_hugepage_limits(runtime, bundle):
    bundle.linux["resources"] = {"hugepageLimits": [{"pageSize": "2MB", "limit": 6 << 20}]}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert cgroup_file(cid, "hugetlb.2MB.max") == str(6 << 20)
    assert json.loads(runtime.ok("events", "--stats", cid).stdout)["data"]["hugetlb"]["2MB"]["usage"] == 0
    runtime.ok("update", "-r", "-", cid, input=json.dumps({"hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}]}))
    assert cgroup_file(cid, "hugetlb.2MB.max") == str(2 << 20)
    runtime.delete(cid, force=True)


def test_unified_key_values_are_written_last(runtime, bundle):
    bundle.linux["resources"] = {"memory": {"limit": 64 << 20},
                                 "unified": {"memory.max": str(32 << 20), "memory.high": str(24 << 20),
                                             "pids.max": "9", "cgroup.max.descendants": "3"}}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert cgroup_file(cid, "memory.max") == str(32 << 20)  # unified overrides memory.limit
    assert cgroup_file(cid, "memory.high") == str(24 << 20)
    assert cgroup_file(cid, "pids.max") == "9" and cgroup_file(cid, "cgroup.max.descendants") == "3"
    runtime.ok("update", "-r", "-", cid, input=json.dumps({"unified": {"memory.high": "max"}}))
    assert cgroup_file(cid, "memory.high") == "max"
    runtime.delete(cid, force=True)


@pytest.mark.parametrize("unified, mentions", [
    ({"../cgroup.procs": "1"}, "linux.resources.unified: '../cgroup.procs' is not a cgroup file name"),
    ({"memory.nonexistent": "1"}, "linux.resources.unified.memory.nonexistent: write 1 to memory.nonexistent"),
], ids=["escape", "no-such-file"])
def test_bad_unified_keys_are_named(runtime, bundle, unified, mentions):
    bundle.linux["resources"] = {"unified": unified}
    create_fails_cleanly(runtime, bundle, mentions)


def test_network_is_refused_on_v2(runtime, bundle):
    bundle.linux["resources"] = {"network": {"classID": 1}}
    create_fails_cleanly(runtime, bundle, "linux.resources.network: cgroup v2 has no net_cls or net_prio")


def test_rdma_limits(runtime, bundle):
    """A soft-RoCE device (rdma_rxe on a dummy link) where the VM can make one;
    an unknown device is an error naming it either way."""
    bundle.linux["resources"] = {"rdma": {"ocirun-no-such-hca": {"hcaHandles": 1}}}
    create_fails_cleanly(runtime, bundle, "linux.resources.rdma.ocirun-no-such-hca: write ocirun-no-such-hca")
    devices = os.listdir("/sys/class/infiniband") if os.path.isdir("/sys/class/infiniband") else []
    if not devices:
        pytest.skip("no RDMA device in this VM")
    bundle.linux["resources"] = {"rdma": {devices[0]: {"hcaHandles": 3, "hcaObjects": 100}}}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert f"{devices[0]} hca_handle=3 hca_object=100" in cgroup_file(cid, "rdma.max").splitlines()
    runtime.delete(cid, force=True)


@pytest.mark.parametrize("cgroup_namespace", [False, True], ids=["bind", "cgroupns"])
def test_cgroup_mount(runtime, bundle, cgroup_namespace):
    bundle.add_mount("/sys/fs/cgroup", "cgroup", type="cgroup", options=("nosuid", "noexec", "nodev", "ro"))
    if cgroup_namespace:
        bundle.add_namespace("cgroup")
    bundle.linux["resources"] = {"pids": {"limit": 23}}
    out = runtime.output(bundle, sh("cat /sys/fs/cgroup/pids.max; head -1 /sys/fs/cgroup/cgroup.procs;"
                                    " cat /proc/self/cgroup; mkdir /sys/fs/cgroup/x 2>&1; true"))
    lines = out.splitlines()
    assert lines[:2] == ["23", "1"]
    assert lines[2] == "0::/" if cgroup_namespace else lines[2].startswith("0::/ocirun/")
    assert "Read-only file system" in out


def test_block_io_weight_and_throttles_take_v2_files(runtime, bundle, loop_device):
    major, minor, _ = loop_device
    # a device weight needs a weight-based controller on the device: blk-iocost here
    with open(os.path.join(CGROUP_ROOT, "io.cost.qos"), "w") as f:
        f.write(f"{major}:{minor} enable=1")
    bundle.linux["resources"] = {"blockIO": {
        "weight": 500, "weightDevice": [{"major": major, "minor": minor, "weight": 200}],
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    weights = cgroup_file(cid, "io.weight").splitlines()
    assert "default 4950" in weights  # runc's conversion of blkio weight 500
    assert f"{major}:{minor} 1920" in weights
    limits = cgroup_file(cid, "io.max")
    assert f"{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100" in limits
    runtime.delete(cid, force=True)
