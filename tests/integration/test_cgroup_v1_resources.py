"""linux.resources on this host's cgroup v1 controllers: read back from the
cgroup files and enforced by the kernel."""
import json
import os
import subprocess
import time

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
                   "disableOOMKiller": True},
        "cpu": {"shares": 512, "period": 100000, "quota": 20000, "burst": 5000, "cpus": "0", "mems": "0",
                "realtimePeriod": 500000, "realtimeRuntime": 0},
        "pids": {"limit": 32},
        "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]},
    }
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(cid, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert cgroup_file(cid, "memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert cgroup_file(cid, "memory", "memory.swappiness") == "10"
    assert "oom_kill_disable 1" in cgroup_file(cid, "memory", "memory.oom_control").splitlines()
    assert cgroup_file(cid, "cpu", "cpu.shares") == "512"
    assert cgroup_file(cid, "cpu", "cpu.cfs_quota_us") == "20000"
    assert cgroup_file(cid, "cpu", "cpu.cfs_burst_us") == "5000"
    assert cgroup_file(cid, "cpu", "cpu.rt_period_us") == "500000"
    assert cgroup_file(cid, "cpu", "cpu.rt_runtime_us") == "0"
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


def test_cpu_idle(runtime, bundle):
    bundle.linux["resources"] = {"cpu": {"idle": 1}}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert cgroup_file(cid, "cpu", "cpu.idle") == "1"
    runtime.delete(cid, force=True)


def test_kernel_memory_limits_are_a_warning(runtime, bundle):
    """Gone from recent kernels, NOT RECOMMENDED by config-linux.md: the
    container runs, and stderr says the limits were ignored."""
    bundle.linux["resources"] = {"memory": {"kernel": 64 << 20, "kernelTCP": 32 << 20}}
    result = runtime.run(runtime.new_id(), bundle.set_args(["true"]))
    assert result.returncode == 0, result.stderr
    assert "linux.resources.memory.kernel: " in result.stderr and "ignored" in result.stderr
    assert "kernelTCP" not in result.stderr  # that one the kernel still applies


def test_block_io_weights_under_bfq(runtime, bundle, loop_device):
    """This kernel has BFQ's group weights (blkio.bfq.*), not CFQ's: the
    weight lands there, a device weight on a device BFQ schedules too, and
    one on a device it does not is an error naming the field."""
    major, minor, name = loop_device
    with open(f"/sys/block/{name}/queue/scheduler", "w") as f:
        f.write("bfq")
    bundle.linux["resources"] = {"blockIO": {"weight": 500,
                                             "weightDevice": [{"major": major, "minor": minor, "weight": 200}]}}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert cgroup_file(cid, "blkio", "blkio.bfq.weight").split()[-1] == "500"
    assert f"{major}:{minor} 200" in cgroup_file(cid, "blkio", "blkio.bfq.weight_device")
    runtime.delete(cid, force=True)
    with open(f"/sys/block/{name}/queue/scheduler", "w") as f:
        f.write("none")
    create_fails_cleanly(runtime, bundle, "linux.resources.blockIO.weightDevice: write "
                                          f"{major}:{minor} 200 to blkio.weight_device: Operation not supported")


def test_realtime_runtime_beyond_the_hosts_budget_is_named(runtime, bundle):
    # the root cgroup holds 950000 of each 1000000 us: no parent can be given more
    bundle.linux["resources"] = {"cpu": {"realtimeRuntime": 990000, "realtimePeriod": 1000000}}
    create_fails_cleanly(runtime, bundle, "linux.resources.cpu.realtimeRuntime: make room for it in ",
                         "cpu.rt_runtime_us: Invalid argument")


def test_a_value_the_kernel_refuses_names_the_field(runtime, bundle):
    bundle.linux["resources"] = {"cpu": {"quota": 500}}  # below the kernel's 1 ms minimum
    create_fails_cleanly(runtime, bundle.set_args(["true"]),
                         "linux.resources.cpu.quota: write 500 to cpu.cfs_quota_us: Invalid argument")


def unified_file(cid, name):
    with open(os.path.join(CGROUP_ROOT, "unified", "ocirun", cid, name)) as f:
        return f.read().strip()


@pytest.mark.skipif(not os.path.exists("/sys/kernel/mm/hugepages/hugepages-2048kB"), reason="no 2MB huge pages")
def test_hugepage_limits_on_a_hybrid_host_use_the_unified_hierarchy(runtime, bundle):
    """hugetlb is bound to cgroup v2 here (no v1 hugetlb mount): its v2 file
    is written, and stats read it back."""
    if not os.path.isdir(os.path.join(CGROUP_ROOT, "unified")):
        pytest.skip("not a hybrid host")
    bundle.linux["resources"] = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    assert unified_file(cid, "hugetlb.2MB.max") == str(4 << 20)
    stats = json.loads(runtime.ok("events", "--stats", cid).stdout)["data"]
    assert stats["hugetlb"]["2MB"] == {"usage": 0, "max": 0, "failcnt": 0}
    runtime.ok("update", "-r", "-", cid, input=json.dumps({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}))
    assert unified_file(cid, "hugetlb.2MB.max") == "0"
    runtime.delete(cid, force=True)


def test_a_page_size_the_kernel_lacks_is_named(runtime, bundle):
    bundle.linux["resources"] = {"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]}
    create_fails_cleanly(runtime, bundle.set_args(["true"]),
                         "linux.resources.hugepageLimits[0]: write 0 to hugetlb.3MB.")


@pytest.fixture
def net_cls_hierarchy(tmp_path):
    """This host has net_cls and net_prio but mounts neither: mount them for
    the test, as a host that uses them would, and undo it after."""
    point = tmp_path / "net_cls,net_prio"
    point.mkdir()
    subprocess.run(["mount", "-t", "cgroup", "-o", "net_cls,net_prio", "cgroup", str(point)], check=True)
    yield str(point)
    for leftover in ("ocirun",):
        try:
            os.rmdir(point / leftover)
        except OSError:
            pass
    subprocess.run(["umount", str(point)], check=True)


def test_network_class_id_and_priorities(runtime, bundle, net_cls_hierarchy):
    bundle.linux["resources"] = {"network": {"classID": 0x100001, "priorities": [{"name": "lo", "priority": 7}]}}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    directory = os.path.join(net_cls_hierarchy, "ocirun", cid)
    with open(os.path.join(directory, "net_cls.classid")) as f:
        assert f.read().strip() == str(0x100001)
    with open(os.path.join(directory, "net_prio.ifpriomap")) as f:
        assert "lo 7" in f.read().splitlines()
    runtime.delete(cid, force=True)
    assert not os.path.exists(directory)


def test_resources_without_a_controller_are_refused_by_name(runtime, bundle):
    """No net_cls mount and no rdma controller on this host: errors, not silent skips."""
    bundle.linux["resources"] = {"network": {"classID": 1}}
    create_fails_cleanly(runtime, bundle, "linux.resources.network.classID: this host has no v1 net_cls controller")
    bundle.linux["resources"] = {"rdma": {"mlx5_1": {"hcaHandles": 3}}}
    create_fails_cleanly(runtime, bundle, "linux.resources.rdma.mlx5_1: this host has no v1 rdma controller")
    bundle.linux["resources"] = {"unified": {"memory.high": "1G"}}
    create_fails_cleanly(runtime, bundle, "linux.resources.unified: invalid configuration")  # runc's words


def test_cgroup_mount_shows_the_containers_own_cgroups(runtime, bundle):
    """Without a cgroup namespace: a tmpfs with the container's directory of
    each hierarchy bound in, read-only as asked."""
    bundle.add_mount("/sys/fs/cgroup", "cgroup", type="cgroup", options=("nosuid", "noexec", "nodev", "ro"))
    bundle.linux["resources"] = {"pids": {"limit": 21}}
    out = runtime.output(bundle, sh("cat /sys/fs/cgroup/pids/pids.max; head -1 /sys/fs/cgroup/memory/cgroup.procs;"
                                    " ls /sys/fs/cgroup; touch /sys/fs/cgroup/pids/x 2>&1;"
                                    " mkdir /sys/fs/cgroup/y 2>&1; true"))
    lines = out.splitlines()
    assert lines[0] == "21" and lines[1] == "1"  # the container's pid 1: its own cgroup
    assert {"memory", "pids", "cpuset"} <= set(lines)
    assert out.count("Read-only file system") == 2


def test_cgroup_mount_with_a_cgroup_namespace(runtime, bundle):
    bundle.add_mount("/sys/fs/cgroup", "cgroup", type="cgroup", options=("nosuid", "noexec", "nodev"))
    bundle.add_namespace("cgroup")
    bundle.linux["resources"] = {"pids": {"limit": 22}}
    out = runtime.output(bundle, sh("cat /proc/self/cgroup | grep pids; cat /sys/fs/cgroup/pids/pids.max;"
                                    " grep ' /sys/fs/cgroup/pids ' /proc/self/mountinfo"))
    lines = out.splitlines()
    assert lines[0].endswith(":pids:/") and lines[1] == "22"
    assert " - cgroup cgroup " in lines[2]  # mounted afresh, not bound


def test_cgroup2_mount_on_a_hybrid_host(runtime, bundle):
    if not os.path.isdir(os.path.join(CGROUP_ROOT, "unified")):
        pytest.skip("no unified hierarchy")
    bundle.add_mount("/sys/fs/cgroup", "cgroup2", type="cgroup2", options=("nosuid", "noexec", "nodev"))
    out = runtime.output(bundle, sh("cat /sys/fs/cgroup/cgroup.procs; grep ' /sys/fs/cgroup ' /proc/self/mountinfo"))
    assert out.splitlines()[0] == "1" and " - cgroup2 " in out


def test_update_replaces_the_device_rules(runtime, bundle):
    bundle.linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "100"]), cid)
    assert "c 1:3 rwm" in cgroup_file(cid, "devices", "devices.list").splitlines()  # runc's defaults
    assert "c 10:229 rwm" not in cgroup_file(cid, "devices", "devices.list").splitlines()
    runtime.ok("update", "-r", "-", cid, input=json.dumps(
        {"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "minor": 229,
                                                          "access": "rwm"}]}))
    assert "c 10:229 rwm" in cgroup_file(cid, "devices", "devices.list").splitlines()
    result = runtime("update", "-r", "-", cid, input='{"devices": [{"access": "rwm"}]}')
    assert result.returncode != 0 and "update: resources.devices[0]" in result.stderr and "allow" in result.stderr
    runtime.delete(cid, force=True)


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
    assert "update: resources.unified: invalid configuration" in \
        runtime("update", "-r", "-", cid, input='{"unified": {"memory.high": "max"}}').stderr
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


def test_a_shorter_cpu_period_under_a_pods_quota(ocirun_and_runc, bundle):
    """The pod's parent allows 50% of a CPU; the container's new period is
    refused while the old quota over it would exceed that, so the quota goes
    first and the period after (runc's order on EINVAL)."""
    import uuid
    pod = f"/oci-test-pod-{uuid.uuid4().hex[:8]}"
    pod_cpu = os.path.join(CGROUP_ROOT, "cpu", pod.lstrip("/"))
    os.mkdir(pod_cpu)
    rt = ocirun_and_runc
    cid = rt.new_id()
    try:
        with open(os.path.join(pod_cpu, "cpu.cfs_quota_us"), "w") as f:
            f.write("50000")
        bundle.linux["cgroupsPath"] = f"{pod}/ctr"
        rt.run(cid, bundle.set_args(["sleep", "30"]), "-d")
        assert rt("update", "--cpu-quota", "60000", cid).returncode == 1  # beyond the pod's 50%
        rt.ok("update", "--cpu-period", "10000", "--cpu-quota", "3000", cid)
        ctr = os.path.join(pod_cpu, "ctr")
        with open(os.path.join(ctr, "cpu.cfs_period_us")) as p, open(os.path.join(ctr, "cpu.cfs_quota_us")) as q:
            assert (p.read().strip(), q.read().strip()) == ("10000", "3000")
    finally:
        rt("delete", "--force", cid)
        for hierarchy in os.listdir(CGROUP_ROOT):
            path = os.path.join(CGROUP_ROOT, hierarchy, pod.lstrip("/"))
            if os.path.isdir(path):
                os.rmdir(path)
