"""The order and form of cgroup v1 writes for linux.resources (no root needed)."""
from ocirun.cgroups.v1 import writes
from ocirun.config import Resources


def files(raw, current=None):
    return [(name, value) for _, name, value, _ in writes(Resources(raw), current)]


def test_new_cgroup_memory_limit_before_memsw():
    assert files({"memory": {"limit": 64, "swap": 128}}) == [
        ("memory.limit_in_bytes", 64), ("memory.memsw.limit_in_bytes", 128)]


def test_raising_above_the_current_limit_writes_memsw_first():
    assert files({"memory": {"limit": 512, "swap": 1024}}, current=256) == [
        ("memory.memsw.limit_in_bytes", 1024), ("memory.limit_in_bytes", 512)]


def test_unlimited_memory_takes_unlimited_swap():
    assert files({"memory": {"limit": -1}}) == [
        ("memory.memsw.limit_in_bytes", -1), ("memory.limit_in_bytes", -1)]


def test_cpu_period_before_quota_and_cpuset_on_its_controller():
    out = writes(Resources({"cpu": {"quota": 20000, "period": 100000, "cpus": "0-1", "shares": 2}}))
    assert [(c, n) for c, n, _, _ in out] == [("cpu", "cpu.shares"), ("cpu", "cpu.cfs_period_us"),
                                              ("cpu", "cpu.cfs_quota_us"), ("cpuset", "cpuset.cpus")]


def test_pids_negative_is_max_and_zero_unset():
    assert files({"pids": {"limit": -1}}) == [("pids.max", "max")]
    assert files({"pids": {"limit": 0}}) == []  # runc's "not set"
    assert files({"pids": {"limit": 5}}) == [("pids.max", 5)]


def test_block_io_devices():
    assert files({"blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}}) == [
        ("blkio.weight|blkio.bfq.weight", 300), ("blkio.throttle.read_bps_device", "8:0 1048576")]


def test_page_sizes_are_named_as_cgroup_files_name_them(tmp_path):
    from ocirun.cgroups.stats import page_sizes
    for name in ("hugepages-2048kB", "hugepages-1048576kB", "hugepages-64kB"):
        (tmp_path / name).mkdir()
    assert page_sizes(str(tmp_path)) == ["1GB", "2MB", "64KB"]


def test_mount_flags_are_not_controllers(tmp_path):
    from ocirun.cgroups import mounted_hierarchies
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "30 25 0:26 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd\n"
        "31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
        "32 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset,clone_children\n"
        "33 25 0:29 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    assert mounted_hierarchies(str(mountinfo)) == {
        "name=systemd": "/sys/fs/cgroup/systemd", "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "cpuset": "/sys/fs/cgroup/cpuset", "unified": "/sys/fs/cgroup/unified"}


def test_zero_means_unset_as_for_runc():
    """Docker sends memory 0, cpu shares 0, blkio weight 0, pids 0... for "not set"."""
    from ocirun.cgroups import v1, v2
    zeros = Resources({"memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0},
                       "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0},
                       "pids": {"limit": 0}, "blockIO": {"weight": 0, "leafWeight": 0}})
    assert v1.writes(zeros) == []
    assert v2.writes(zeros) == []
