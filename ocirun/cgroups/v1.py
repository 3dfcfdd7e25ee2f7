"""linux.resources on cgroup v1: which file of which controller each field is
written to, and in what order (devices: devices.py).

`writes` is pure, so the order can be tested without root; CgroupfsV1, the
cgroupfs driver on such a host, puts each value in the container's directory
of the hierarchy that has the controller, and an absent controller or file
is an error naming the field.
"""
import math
import os

from ocirun.cgroups.base import DEFAULT_PARENT, Manager, _read, _write
from ocirun.errors import ConfigError, OcirunError

# blockIO's throttle members: (Resources attribute, v1 file suffix, v2 io.max key, field)
THROTTLES = (("throttle_read_bps", "read_bps_device", "rbps", "throttleReadBpsDevice"),
             ("throttle_write_bps", "write_bps_device", "wbps", "throttleWriteBpsDevice"),
             ("throttle_read_iops", "read_iops_device", "riops", "throttleReadIOPSDevice"),
             ("throttle_write_iops", "write_iops_device", "wiops", "throttleWriteIOPSDevice"))



def writes(resources, current_memory_limit=None):
    """[(controller, file, value, field)] for a Resources, in writing order;
    current_memory_limit None is a new cgroup's: unlimited."""
    out = []
    memory = resources.memory
    if memory:
        out += _memory_writes(memory, current_memory_limit)
    cpu = resources.cpu
    if cpu:
        # period before quota, rt period before rt runtime: each is checked against the other
        for value, controller, name, field in (
                (cpu.shares, "cpu", "cpu.shares", "cpu.shares"),
                (cpu.period, "cpu", "cpu.cfs_period_us", "cpu.period"),
                (cpu.quota, "cpu", "cpu.cfs_quota_us", "cpu.quota"),
                (cpu.burst, "cpu", "cpu.cfs_burst_us", "cpu.burst"),
                (cpu.realtime_period, "cpu", "cpu.rt_period_us", "cpu.realtimePeriod"),
                (cpu.realtime_runtime, "cpu", "cpu.rt_runtime_us", "cpu.realtimeRuntime"),
                (cpu.idle, "cpu", "cpu.idle", "cpu.idle"),
                (cpu.cpus, "cpuset", "cpuset.cpus", "cpu.cpus"),
                (cpu.mems, "cpuset", "cpuset.mems", "cpu.mems")):
            if value is not None:
                out.append((controller, name, value, field))
    if resources.pids_limit is not None:
        limit = resources.pids_limit
        out.append(("pids", "pids.max", "max" if limit <= 0 else limit, "pids.limit"))
    block_io = resources.block_io
    if block_io:
        out += _block_io_writes(block_io)
    out += hugetlb_writes(resources.hugepage_limits, "limit_in_bytes")
    network = resources.network
    if network:
        if network.class_id is not None:
            out.append(("net_cls", "net_cls.classid", network.class_id, "network.classID"))
        for name, priority in network.priorities:
            out.append(("net_prio", "net_prio.ifpriomap", f"{name} {priority}", "network.priorities"))
    out += rdma_writes(resources.rdma)
    if resources.unified:
        raise ConfigError("linux.resources.unified: invalid configuration: it needs cgroup v2,"
                          " and this host runs cgroup v1")
    return out


def hugetlb_writes(limits, suffix):
    """hugepageLimits: one file per page size, named as the kernel names it
    ("2MB"); suffix: limit_in_bytes on v1, max on v2."""
    return [("hugetlb", f"hugetlb.{page_size}.{suffix}", limit, f"hugepageLimits[{i}]")
            for i, (page_size, limit) in enumerate(limits)]


def rdma_writes(rdma):
    """rdma.max, the same on v1 and v2: a line per device, unset limits left out."""
    out = []
    for device, (handles, objects) in rdma.items():
        line = device
        if handles is not None:
            line += f" hca_handle={handles}"
        if objects is not None:
            line += f" hca_object={objects}"
        out.append(("rdma", "rdma.max", line, f"rdma.{device}"))
    return out


def _memory_writes(memory, current_limit):
    out = []
    if memory.reservation is not None:
        out.append(("memory", "memory.soft_limit_in_bytes", memory.reservation, "memory.reservation"))
    limit, swap = memory.limit, memory.swap
    if limit == -1 and swap is None:
        swap = -1  # unlimited memory takes unlimited memory+swap with it (runc)
    limit_write = ("memory", "memory.limit_in_bytes", limit, "memory.limit")
    swap_write = ("memory", "memory.memsw.limit_in_bytes", swap, "memory.swap")
    if limit is not None and swap is not None:
        # memsw may never be below the memory limit: when the current limit is
        # below the new memsw, memsw first; otherwise (a new cgroup's limit is
        # unlimited) the memory limit first
        raising = swap == -1 or (current_limit not in (None, -1) and current_limit < swap)
        out += [swap_write, limit_write] if raising else [limit_write, swap_write]
    elif limit is not None:
        out.append(limit_write)
    elif swap is not None:
        out.append(swap_write)
    for value, name, field in ((memory.kernel, "memory.kmem.limit_in_bytes", "memory.kernel"),
                               (memory.kernel_tcp, "memory.kmem.tcp.limit_in_bytes",
                                "memory.kernelTCP"),
                               (memory.swappiness, "memory.swappiness", "memory.swappiness")):
        if value is not None:
            out.append(("memory", name, value, field))
    if memory.disable_oom_killer is not None:
        out.append(("memory", "memory.oom_control", int(memory.disable_oom_killer), "memory.disableOOMKiller"))
    if memory.use_hierarchy is not None:
        out.append(("memory", "memory.use_hierarchy", int(memory.use_hierarchy), "memory.useHierarchy"))
    return out


def _block_io_writes(block_io):
    out = []
    if block_io.weight is not None:
        # blkio.weight (CFQ), or blkio.bfq.weight under BFQ: chosen by what exists
        out.append(("blkio", "blkio.weight|blkio.bfq.weight", block_io.weight, "blockIO.weight"))
    if block_io.leaf_weight is not None:
        out.append(("blkio", "blkio.leaf_weight", block_io.leaf_weight, "blockIO.leafWeight"))
    for device in block_io.weight_devices:
        if device.weight is not None:
            out.append(("blkio", "blkio.weight_device|blkio.bfq.weight_device",
                        f"{device.major}:{device.minor} {device.weight}", "blockIO.weightDevice"))
        if device.leaf_weight is not None:
            out.append(("blkio", "blkio.leaf_weight_device", f"{device.major}:{device.minor} {device.leaf_weight}",
                        "blockIO.weightDevice"))
    for attribute, name, _, field in THROTTLES:
        for device in getattr(block_io, attribute):
            out.append(("blkio", f"blkio.throttle.{name}", f"{device.major}:{device.minor} {device.rate}",
                        f"blockIO.{field}"))
    return out


def _rt_share(directory):
    """A cgroup's real-time budget as runtime/period; None when unlimited (-1)."""
    runtime = int(_read(os.path.join(directory, "cpu.rt_runtime_us")))
    if runtime < 0:
        return None
    from fractions import Fraction
    return Fraction(runtime, int(_read(os.path.join(directory, "cpu.rt_period_us"))))


class CgroupfsV1(Manager):
    """The cgroupfs driver on a cgroup v1 host, hybrid ones included: a
    controller's files are in the v1 hierarchy that carries it, or, for a
    controller bound to the unified hierarchy (hugetlb on a hybrid host),
    v2's files there."""

    MEMORY_USAGE = "memory.usage_in_bytes"

    def __init__(self, path, mounts, owned=True, created_from=None, shared=False, rootless=False):
        super().__init__(path, mounts, owned, created_from, shared, rootless)
        self._hybrid = None

    def directory(self, controller):
        """The container's directory for a controller (None when no hierarchy carries it)."""
        mount = next((m for name, m in self.mounts.items()
                      if name != "unified" and controller in name.split(",")), None)
        if mount is None and controller in self.hybrid_controllers():
            mount = self.mounts["unified"]
        return os.path.join(mount, self.path.lstrip("/")) if mount else None

    def hybrid_controllers(self):
        """The controllers bound to this host's unified hierarchy, which take v2's files."""
        if "unified" not in self.mounts:
            return set()
        if self._hybrid is None:
            self._hybrid = set(_read(os.path.join(self.mounts["unified"], "cgroup.controllers")).split())
        return self._hybrid

    def planned_writes(self, resources, updating):
        planned = writes(resources, self._current_memory_limit() if updating else None)
        if resources.hugepage_limits and "hugetlb" in self.hybrid_controllers():
            planned = [w for w in planned if w[0] != "hugetlb"] + hugetlb_writes(resources.hugepage_limits, "max")
        return planned

    def prepare_writes(self, planned, unified_keys):
        on_unified = {controller for controller, *_ in planned if controller in self.hybrid_controllers()}
        if on_unified:
            self._enable_controllers(on_unified, unified_keys)
        rt = {name: value for _, name, value, _ in planned if name in ("cpu.rt_runtime_us", "cpu.rt_period_us")}
        if rt.get("cpu.rt_runtime_us", 0) > 0:
            self._make_room_for_rt_runtime(rt["cpu.rt_runtime_us"], rt.get("cpu.rt_period_us"))

    def _make_room_for_rt_runtime(self, runtime, period):
        """The kernel refuses a real-time budget that the parent cannot hold,
        and a cgroup made by mkdir holds none: raise each ancestor below the
        hierarchy's root (ocirun's /ocirun among them) to what its children
        then need, as crun does.  Budgets are compared as runtime/period.
        What is given to an ancestor stays there after delete, for the next."""
        from fractions import Fraction  # only here: it is slow to import
        directory = self.directory("cpu")
        if directory is None or not os.path.exists(os.path.join(directory, "cpu.rt_runtime_us")):
            return  # the write itself names what is missing
        root = next(m for name, m in self.mounts.items() if "cpu" in name.split(","))
        if period is None:
            period = int(_read(os.path.join(directory, "cpu.rt_period_us")))
        share = Fraction(runtime, period)
        raised, child = [], directory
        while os.path.dirname(child) != root.rstrip("/") and child != root:
            ancestor = os.path.dirname(child)
            held = _rt_share(ancestor)
            if held is None:
                break  # unlimited
            siblings = sum((_rt_share(os.path.join(ancestor, entry.name)) or 0 for entry in os.scandir(ancestor)
                            if entry.is_dir() and entry.path != child), Fraction(0))
            needed = siblings + share
            if held >= needed:
                break  # enough here, and so above
            ancestor_period = int(_read(os.path.join(ancestor, "cpu.rt_period_us")))
            raised.append((ancestor, -(-needed.numerator * ancestor_period // needed.denominator)))
            share, child = needed, ancestor
        for ancestor, value in reversed(raised):  # a parent before its children
            try:
                _write(os.path.join(ancestor, "cpu.rt_runtime_us"), str(value))
            except OSError as e:
                raise OcirunError(f"config.json: linux.resources.cpu.realtimeRuntime: make room for it in "
                                  f"{ancestor}: write {value} to cpu.rt_runtime_us: {e.strerror}") from None

    def apply_device_rules(self, configured):
        """linux.resources.devices: the devices controller's files."""
        from ocirun.cgroups import devices
        directory = self.directory("devices")
        if directory is None:
            raise OcirunError("config.json: linux.resources.devices: this host has no v1 devices controller")
        devices.apply(directory, devices.rules_from_config(configured))

    def destroy(self, timeout=5.0):
        own_budget = self._rt_runtime_file()
        if own_budget:
            # the kernel counts a removed group's budget until it is freed
            # (later): zero it first, so the parent's can go down at once
            try:
                _write(own_budget, "0")
            except OSError:
                pass
        super().destroy(timeout)
        if own_budget:
            self._give_back_rt_budget()

    def _rt_runtime_file(self):
        """The container's cpu.rt_runtime_us, when it holds a budget."""
        directory = self.directory("cpu")
        path = os.path.join(directory, "cpu.rt_runtime_us") if directory else None
        try:
            return path if path and self.owned and not self.shared and int(_read(path)) > 0 else None
        except (OSError, ValueError):
            return None

    def _give_back_rt_budget(self):
        """What _make_room_for_rt_runtime gave ocirun's own parent (/ocirun)
        goes back once its container is gone: the root's real-time budget is
        the whole host's, and what /ocirun holds no other cgroup can get."""
        directory = self.directory("cpu")
        if directory is None or not self.path.startswith(DEFAULT_PARENT + "/"):
            return
        parent = os.path.join(directory[:-len(self.path)], DEFAULT_PARENT.lstrip("/"))
        try:
            held = int(_read(os.path.join(parent, "cpu.rt_runtime_us")))
            if held <= 0:
                return
            period = int(_read(os.path.join(parent, "cpu.rt_period_us")))
            children = sum(_rt_share(entry.path) or 0 for entry in os.scandir(parent) if entry.is_dir())
            needed = math.ceil(children * period)
            if needed < held:
                _write(os.path.join(parent, "cpu.rt_runtime_us"), str(needed))
        except (OSError, ValueError):
            pass  # a budget left is no failure of delete

    def freeze(self, timeout=5.0):
        """FROZEN once every task is stopped (FREEZING meanwhile)."""
        state = self._freezer_state_file()
        _write(state, "FROZEN")
        self._wait_frozen(lambda: _read(state) == "FROZEN", lambda: _write(state, "THAWED"), timeout)

    def thaw(self):
        _write(self._freezer_state_file(), "THAWED")

    def frozen(self):
        directory = self.directory("freezer")
        try:
            return directory is not None and _read(os.path.join(directory, "freezer.state")) != "THAWED"
        except FileNotFoundError:
            return False

    def _freezer_state_file(self):
        directory = self.directory("freezer")
        if directory is None:
            raise OcirunError("this host has no v1 freezer controller")
        return os.path.join(directory, "freezer.state")

    def stats(self):
        """runc's stats (cpu, memory, pids, blkio) from the v1 files."""
        from ocirun.cgroups import stats
        return stats.collect(self.directory)

    def oom_watch(self):
        """A watch (oom.py) whose fd turns readable when the kernel's OOM killer
        acts in the container's memory cgroup, or None without a memory controller."""
        from ocirun.cgroups import oom
        directory = self.directory("memory")
        return oom.EventfdWatch(directory) if directory else None

    def _current_memory_limit(self):
        directory = self.directory("memory")
        if directory is None:
            return None
        try:
            return int(_read(os.path.join(directory, "memory.limit_in_bytes")))
        except (OSError, ValueError):
            return None
