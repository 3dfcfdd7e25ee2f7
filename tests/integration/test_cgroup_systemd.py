"""--systemd-cgroup against a real dbus-daemon with fake_systemd.py answering
as systemd's manager (neither this host nor the v2 VM boots systemd): the
D-Bus conversation is the real one, and the cgroups are the kernel's."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import CGROUP_ROOT, create_fails_cleanly, leftovers, sh, start_dbus_daemon, unified_only

SLICE = "ocirunt-inner.slice"
SLICE_PATH = "/ocirunt.slice/ocirunt-inner.slice"

pytestmark = pytest.mark.skipif(not shutil.which("dbus-daemon"), reason="needs dbus-daemon (apt-get install dbus-daemon)")


class FakeSystemd:
    def __init__(self, address, log_path):
        self.address = address
        self.log_path = log_path

    def calls(self, method):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [entry["args"] for entry in map(json.loads, f) if entry["method"] == method]


def slice_directories():
    """The slices' directories the tests' units live in, in every hierarchy."""
    roots = [CGROUP_ROOT] if unified_only() else \
        [os.path.join(CGROUP_ROOT, h) for h in os.listdir(CGROUP_ROOT) if not os.path.islink(os.path.join(CGROUP_ROOT, h))]
    return [os.path.join(root, name) for root in roots for name in ("ocirunt.slice", "system.slice")
            if os.path.isdir(os.path.join(root, name))]


def remove_empty_tree(top):
    for directory, _, _ in sorted(os.walk(top), reverse=True):
        try:
            os.rmdir(directory)
        except OSError:
            pass


@pytest.fixture
def systemd(tmp_path):
    """dbus-daemon and the fake manager; at the end the slice directories the
    units needed go too (ocirun leaves a slice's directories, which are
    systemd's, as runc does)."""
    existed = set(slice_directories())
    daemon, address = start_dbus_daemon(tmp_path / "bus.conf", tmp_path / "bus.sock")
    log_path = tmp_path / "calls.jsonl"
    service = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "fake_systemd.py"),
                                address, str(log_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert service.stdout.readline().strip() == "ready"
        yield FakeSystemd(address, str(log_path))
    finally:
        service.terminate()
        service.wait(10)
        daemon.terminate()
        daemon.wait(10)
        for directory in set(slice_directories()) - existed:
            remove_empty_tree(directory)


@pytest.fixture
def systemd_runtime(monkeypatch, systemd, runtime):
    # in this order, so that the runtime's teardown (delete -f of what is left)
    # still has the bus and its address
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", systemd.address)
    runtime.global_args = ("--systemd-cgroup",)
    return runtime


def properties(call):
    return {name: value for name, (_signature, value) in call[2]}


def cgroup_dir(controller, unit):
    if unified_only():
        return os.path.join(CGROUP_ROOT, SLICE_PATH.lstrip("/"), unit)
    return os.path.join(CGROUP_ROOT, controller, SLICE_PATH.lstrip("/"), unit)


def read(path):
    with open(path) as f:
        return f.read().strip()


def test_a_scope_is_started_with_the_resources_then_stopped(systemd_runtime, systemd, bundle):
    runtime = systemd_runtime
    cid = runtime.new_id()
    unit = f"libpod-{cid}.scope"
    bundle.linux["cgroupsPath"] = f"{SLICE}:libpod:{cid}"
    bundle.linux["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 30},
                                 "cpu": {"shares": 1024, "quota": 25000, "period": 100000, "cpus": "0"}}
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "100"]), cid)
    pid = runtime.state(cid)["pid"]
    (call,) = systemd.calls("StartTransientUnit")
    assert call[:2] == [unit, "replace"]
    props = properties(call)
    assert props["Slice"] == SLICE and props["Delegate"] is True and props["DefaultDependencies"] is False
    assert props["TasksMax"] == 30 and props["CPUQuotaPerSecUSec"] == 250000 and props["AllowedCPUs"] == [1]
    if unified_only():
        assert props["MemoryMax"] == 64 << 20 and props["CPUWeight"] == 39
    else:
        assert props["MemoryLimit"] == 64 << 20 and props["CPUShares"] == 1024
    # the scope is the init's cgroup in every hierarchy, with the limits in its files
    with open(f"/proc/{pid}/cgroup") as f:
        own = dict(line.split(":", 2)[1:] for line in f.read().splitlines())
    mounted = {""} if unified_only() else {"", "name=systemd", "memory", "pids", "cpu", "cpuset", "freezer"}
    assert {own[controllers] for controllers in mounted} == {f"{SLICE_PATH}/{unit}"}
    memory_file = "memory.max" if unified_only() else "memory.limit_in_bytes"
    assert read(os.path.join(cgroup_dir("memory", unit), memory_file)) == str(64 << 20)
    assert read(os.path.join(cgroup_dir("pids", unit), "pids.max")) == "30"

    runtime.ok("update", "--memory", "32m", cid)
    (update,) = systemd.calls("SetUnitProperties")
    assert update[:2] == [unit, True]
    assert dict((name, value) for name, (_sig, value) in update[2]) == \
        {("MemoryMax" if unified_only() else "MemoryLimit"): 32 << 20}
    assert read(os.path.join(cgroup_dir("memory", unit), memory_file)) == str(32 << 20)

    runtime.delete(cid, force=True)
    assert systemd.calls("StopUnit") == [[unit, "replace"]]
    assert not os.path.exists(cgroup_dir("memory", unit)) and not os.path.exists(cgroup_dir("pids", unit))
    assert leftovers(runtime, cid) == []


def test_the_scope_takes_devices_hugetlb_pause_ps_and_events(systemd_runtime, systemd, bundle):
    """What the driver does not send to systemd goes to the scope's files, as
    with cgroupfs; pause, ps, events and kill --all work on the scope."""
    runtime = systemd_runtime
    cid = runtime.new_id()
    unit = f"ocirun-{cid}.scope"
    bundle.linux["cgroupsPath"] = f"{SLICE}:ocirun:{cid}"
    bundle.linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}],
                                 "hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}]}
    runtime.ok("run", "-d", "-b", bundle.set_args(sh("sleep 100 & wait")), cid)
    hugetlb = os.path.join(CGROUP_ROOT, "" if unified_only() else "unified", SLICE_PATH.lstrip("/"), unit)
    assert read(os.path.join(hugetlb, "hugetlb.2MB.max")) == str(2 << 20)
    if not unified_only():
        assert "c 1:3 rwm" in read(os.path.join(cgroup_dir("devices", unit), "devices.list")).splitlines()
    runtime.ok("pause", cid)
    assert runtime.status(cid) == "paused"
    runtime.ok("resume", cid)
    pids = json.loads(runtime.ok("ps", "--format", "json", cid).stdout)
    assert runtime.state(cid)["pid"] in pids and len(pids) == 2
    stats = json.loads(runtime.ok("events", "--stats", cid).stdout)["data"]
    assert stats["pids"]["current"] == 2 and stats["hugetlb"]["2MB"]["usage"] == 0
    runtime.ok("kill", "--all", cid, "KILL")
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)
    assert systemd.calls("StopUnit") == [[unit, "replace"]]


def test_with_a_cgroup_namespace_the_init_starts_inside_the_scope(systemd_runtime, systemd, bundle):
    """Stage A is put in the scope before it unshares the cgroup namespace,
    so the container sees its scope as its root."""
    runtime = systemd_runtime
    bundle.linux["cgroupsPath"] = f"{SLICE}:ocirun:cgns"
    bundle.add_namespace("cgroup")
    out = runtime.output(bundle, sh("cat /proc/self/cgroup"))
    assert dict(line.split(":", 2)[1:] for line in out.splitlines())["memory" if not unified_only() else ""] == "/"
    assert len(systemd.calls("StartTransientUnit")) == 1 and len(systemd.calls("StopUnit")) == 1


def test_default_unit_name(systemd_runtime, systemd, bundle):
    runtime = systemd_runtime
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["true"]))
    (call,) = systemd.calls("StartTransientUnit")
    assert call[0] == f"ocirun-{cid}.scope" and properties(call)["Slice"] == "system.slice"
    runtime.delete(cid, force=True)


def test_a_second_container_in_a_running_scope_fails_cleanly(systemd_runtime, systemd, bundle):
    runtime = systemd_runtime
    bundle.linux["cgroupsPath"] = f"{SLICE}:ocirun:shared"
    first = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "100"]), first)
    second = runtime.new_id()
    result = runtime("create", "-b", bundle.path, second)
    assert result.returncode != 0 and "ocirun-shared.scope" in result.stderr
    assert runtime.status(first) == "running"
    assert second not in runtime.list_ids()
    runtime.delete(first, force=True)


@pytest.mark.parametrize("cgroups_path, mentions", [
    ("/plain/path", "linux.cgroupsPath: '/plain/path' is not slice:prefix:name"),
    ("no-dash-.slice:p:n", "empty level in a slice name"),
    ("a.slice:p:b.slice", "a slice cannot hold the container's processes"),
])
def test_bad_systemd_cgroups_paths(systemd_runtime, systemd, bundle, cgroups_path, mentions):
    bundle.linux["cgroupsPath"] = cgroups_path
    create_fails_cleanly(systemd_runtime, bundle, mentions)
    assert systemd.calls("StartTransientUnit") == []


def test_no_bus_is_a_clear_error(runtime, bundle, monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/nothing-here")
    runtime.global_args = ("--systemd-cgroup",)
    create_fails_cleanly(runtime, bundle, "--systemd-cgroup: cannot reach systemd on the D-Bus system bus")
