"""linux.resources on the unified (v2) hierarchy: the files and the value
conversions runc and crun use.  `writes` is pure, like v1.writes;
CgroupfsV2 is the cgroupfs driver on such a host.

Fields v2 has no file for are errors naming them (realtime cpu, swappiness,
disableOOMKiller, leafWeight); kernel memory limits, gone from the kernel,
are warnings (base.BEST_EFFORT)."""
import os

from ocirun.cgroups.base import Manager, _read, _write
from ocirun.cgroups.v1 import THROTTLES, hugetlb_writes, rdma_writes
from ocirun.errors import ConfigError


def cpu_weight(shares):
    """cpu.shares (2..262144) -> cpu.weight (1..10000), as runc converts it."""
    return 1 + ((shares - 2) * 9999) // 262142 if shares else 0


def io_weight(blkio_weight):
    """blkio weight (10..1000) -> io.weight (1..10000), as runc converts it."""
    return 1 + ((blkio_weight - 10) * 9999) // 990 if blkio_weight else 0


def swap_max(swap, limit):
    """OCI swap is memory+swap; v2's memory.swap.max is swap alone."""
    if swap == -1:
        return "max"
    if limit in (None, -1, 0):
        raise ConfigError("linux.resources.memory.swap: needs memory.limit on cgroup v2")
    if swap < limit:
        raise ConfigError(f"linux.resources.memory.swap: {swap} is below memory.limit {limit}")
    return swap - limit


def _max(value):
    return "max" if value is None or value < 0 else value


def writes(resources):
    """[(controller, file, value, field)] for a Resources on cgroup v2."""
    out = []
    memory = resources.memory
    if memory:
        if memory.reservation is not None:
            out.append(("memory", "memory.low", _max(memory.reservation), "memory.reservation"))
        if memory.limit is not None:
            out.append(("memory", "memory.max", _max(memory.limit), "memory.limit"))
        if memory.swap is not None:
            out.append(("memory", "memory.swap.max", swap_max(memory.swap, memory.limit), "memory.swap"))
        for value, field in ((memory.swappiness, "memory.swappiness"),
                             (memory.disable_oom_killer or None, "memory.disableOOMKiller")):
            if value is not None:
                raise ConfigError(f"linux.resources.{field}: cgroup v2 has no such setting")
        for value, field in ((memory.kernel, "memory.kernel"), (memory.kernel_tcp, "memory.kernelTCP")):
            if value is not None:
                out.append(("memory", None, value, field))  # nothing to write: a warning
    cpu = resources.cpu
    if cpu:
        if cpu.shares:
            out.append(("cpu", "cpu.weight", cpu_weight(cpu.shares), "cpu.shares"))
        if cpu.quota is not None or cpu.period is not None:
            quota = "max" if cpu.quota is None or cpu.quota <= 0 else cpu.quota
            out.append(("cpu", "cpu.max", f"{quota} {cpu.period or 100000}", "cpu.quota"))
        if cpu.burst is not None:
            out.append(("cpu", "cpu.max.burst", cpu.burst, "cpu.burst"))
        if cpu.idle is not None:
            out.append(("cpu", "cpu.idle", cpu.idle, "cpu.idle"))
        if cpu.realtime_runtime is not None or cpu.realtime_period is not None:
            raise ConfigError("linux.resources.cpu.realtimeRuntime: cgroup v2 has no real-time cpu budget")
        if cpu.cpus:
            out.append(("cpuset", "cpuset.cpus", cpu.cpus, "cpu.cpus"))
        if cpu.mems:
            out.append(("cpuset", "cpuset.mems", cpu.mems, "cpu.mems"))
    if resources.pids_limit is not None:
        out.append(("pids", "pids.max", "max" if resources.pids_limit <= 0 else resources.pids_limit, "pids.limit"))
    block_io = resources.block_io
    if block_io:
        if block_io.leaf_weight is not None:
            raise ConfigError("linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weight")
        if block_io.weight is not None:
            out.append(("io", "io.weight", f"default {io_weight(block_io.weight)}", "blockIO.weight"))
        for device in block_io.weight_devices:
            if device.weight is not None:
                out.append(("io", "io.weight", f"{device.major}:{device.minor} {io_weight(device.weight)}",
                            "blockIO.weightDevice"))
        for attribute, _, key, field in THROTTLES:
            for device in getattr(block_io, attribute):
                out.append(("io", "io.max", f"{device.major}:{device.minor} {key}={device.rate}", f"blockIO.{field}"))
    out += hugetlb_writes(resources.hugepage_limits, "max")
    if resources.network and (resources.network.class_id is not None or resources.network.priorities):
        raise ConfigError("linux.resources.network: cgroup v2 has no net_cls or net_prio controller")
    out += rdma_writes(resources.rdma)
    out += unified_writes(resources.unified)
    return out


def unified_writes(unified):
    """linux.resources.unified: file name -> value, written as given and last,
    so they override the fields above (as runc does).  The controller is the
    file name's prefix; cgroup.* files belong to no controller."""
    out = []
    for name, value in unified.items():
        if "/" in name or name in (".", "..") or "." not in name:
            raise ConfigError(f"linux.resources.unified: {name!r} is not a cgroup file name")
        controller = name.split(".", 1)[0]
        out.append((None if controller == "cgroup" else controller, name, value, f"unified.{name}"))
    return out


class CgroupfsV2(Manager):
    """The cgroupfs driver on a cgroup v2 host: every controller's files are in
    the container's directory of the unified hierarchy."""

    unified_only = True
    MEMORY_USAGE = "memory.current"

    def directory(self, controller):
        return os.path.join(self.mounts["unified"], self.path.lstrip("/"))

    def create(self):
        super().create()
        self.enable_all_controllers()

    def enable_all_controllers(self):
        """Every controller the parent has, as runc does, so that stats and
        memory.events exist without limits being set; best effort, one by one
        (a parent with processes of its own refuses)."""
        for directory in self._unified_ancestors():
            available = _read(os.path.join(directory, "cgroup.controllers")).split()
            control = os.path.join(directory, "cgroup.subtree_control")
            for controller in set(available) - set(_read(control).split()):
                try:
                    _write(control, f"+{controller}")
                except OSError:
                    pass

    def planned_writes(self, resources, updating):
        return writes(resources)

    def prepare_writes(self, planned, unified_keys):
        controllers = {controller for controller, *_ in planned}
        if controllers:
            self._enable_controllers(controllers, unified_keys)

    def apply_device_rules(self, configured):
        """linux.resources.devices: an eBPF program attached to the cgroup; an
        update's new program goes in before the old ones come out, so no
        device is ever unguarded."""
        from ocirun import _sys
        from ocirun.cgroups import devices, devices_bpf
        directory = self.directory("devices")
        program = _sys.bpf_prog_load_cgroup_device(devices_bpf.program(devices.rules_from_config(configured)))
        try:
            target = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                previous = _sys.bpf_prog_query(target, _sys.BPF_CGROUP_DEVICE,
                                               what=f"list the device programs of {directory}")
                _sys.bpf_prog_attach(target, program, _sys.BPF_CGROUP_DEVICE, _sys.BPF_F_ALLOW_MULTI,
                                     what=f"attach the device program to {directory}")
                for program_id in previous:
                    old = _sys.bpf_prog_get_fd_by_id(program_id)
                    try:
                        _sys.bpf_prog_detach(target, old, _sys.BPF_CGROUP_DEVICE,
                                             what=f"detach the previous device program of {directory}")
                    finally:
                        os.close(old)
            finally:
                os.close(target)
        finally:
            os.close(program)  # the cgroup keeps it

    def freeze(self, timeout=5.0):
        """cgroup.freeze; done when cgroup.events says frozen 1."""
        directory = self.directory("freezer")
        _write(os.path.join(directory, "cgroup.freeze"), "1")
        self._wait_frozen(lambda: "frozen 1" in _read(os.path.join(directory, "cgroup.events")), self.thaw,
                          timeout)

    def thaw(self):
        _write(os.path.join(self.directory("freezer"), "cgroup.freeze"), "0")

    def frozen(self):
        try:
            return _read(os.path.join(self.directory("freezer"), "cgroup.freeze")) == "1"
        except FileNotFoundError:
            return False

    def stats(self):
        from ocirun.cgroups import stats
        return stats.collect_v2(self.directory("cpu"))

    def oom_watch(self):
        """A watch (oom.py) on memory.events: readable when the OOM killer acts."""
        from ocirun.cgroups import oom
        return oom.MemoryEventsWatch(self.directory("memory"))
