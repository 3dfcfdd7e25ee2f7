"""The systemd cgroup driver (--systemd-cgroup), as runc and podman use it on
systemd hosts: the container's cgroup is a transient scope unit that systemd
makes, over D-Bus, with the init in it; ocirun then writes the limits into
the cgroup files as with the plain driver, and delete stops the unit.

linux.cgroupsPath is "slice:prefix:name": the unit "prefix-name.scope" in
the slice ("system.slice" when empty), whose cgroup is the slice's expanded
path plus the unit: "machine-libpod.slice" -> /machine.slice/machine-libpod.slice.
Empty, it is system.slice:ocirun:<container id>.

Rootless, the manager is the user's own (systemd --user, on the session
bus: DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus, as runc finds it),
the default slice user.slice, and the unit's cgroup lies below the user
manager's own (its ControlGroup property), on cgroup v2 only: systemd
delegates no v1 hierarchy to a user.

The resource properties go to systemd too (MemoryMax, CPUWeight, TasksMax...,
the v1 names on a v1 host), so that systemd, which owns the unit, keeps them.
Device rules are not sent: ocirun applies them itself, on the delegated cgroup.
"""
import os

from ocirun.errors import ConfigError, OcirunError

DEFAULT_SLICE = "system.slice"
DEFAULT_USER_SLICE = "user.slice"
DEFAULT_PREFIX = "ocirun"
SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
JOB_TIMEOUT = 30  # seconds, as runc waits
UNLIMITED = 2 ** 64 - 1  # systemd's "infinity"

_MANAGER_PATH = "/org/freedesktop/systemd1"
_MANAGER_INTERFACE = "org.freedesktop.systemd1.Manager"


def unit_and_slice(cgroups_path, container_id, rootless=False):
    """(unit, slice) named by linux.cgroupsPath under --systemd-cgroup."""
    default_slice = DEFAULT_USER_SLICE if rootless else DEFAULT_SLICE
    if not cgroups_path:
        return f"{DEFAULT_PREFIX}-{container_id}.scope", default_slice
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise ConfigError(f"config.json: linux.cgroupsPath: {cgroups_path!r} is not slice:prefix:name, "
                          "as --systemd-cgroup needs")
    slice_name, prefix, name = parts
    if name.endswith(".slice"):
        raise ConfigError(f"config.json: linux.cgroupsPath: {cgroups_path!r}: a slice cannot hold the "
                          "container's processes; name a scope")
    if not name or "/" in name or "/" in prefix:
        raise ConfigError(f"config.json: linux.cgroupsPath: {cgroups_path!r}: bad unit name")
    return (f"{prefix}-{name}.scope" if prefix else f"{name}.scope"), slice_name or default_slice


def expand_slice(slice_name):
    """systemd's cgroup path of a slice: each dash opens a level ("a-b.slice" is in "a.slice")."""
    if not slice_name.endswith(".slice") or "/" in slice_name:
        raise ConfigError(f"config.json: linux.cgroupsPath: {slice_name!r} is not a slice name")
    if slice_name == "-.slice":
        return "/"
    stem = slice_name[:-len(".slice")]
    parts = stem.split("-")
    if any(not part for part in parts):
        raise ConfigError(f"config.json: linux.cgroupsPath: {slice_name!r}: empty level in a slice name")
    return "".join("/" + "-".join(parts[:i + 1]) + ".slice" for i in range(len(parts)))


def cpu_mask(cpu_list):
    """A cpuset list ("0-3,8") as systemd's AllowedCPUs bytes: bit i is cpu i."""
    bits = 0
    for item in cpu_list.split(","):
        first, _, last = item.strip().partition("-")
        for cpu in range(int(first), int(last or first) + 1):
            bits |= 1 << cpu
    return bits.to_bytes((bits.bit_length() + 7) // 8 or 1, "little")


def _limit(value):
    return UNLIMITED if value is None or value < 0 else value


def resource_properties(resources, unified):
    """The unit properties for a config.Resources, v2's names when unified."""
    from ocirun.cgroups import v2
    props = []
    memory, cpu = resources.memory, resources.cpu
    if memory:
        if memory.limit is not None:
            props.append(("MemoryMax" if unified else "MemoryLimit", "t", _limit(memory.limit)))
        if unified and memory.reservation is not None:
            props.append(("MemoryLow", "t", _limit(memory.reservation)))
        if unified and memory.swap is not None:
            swap = v2.swap_max(memory.swap, memory.limit)
            props.append(("MemorySwapMax", "t", UNLIMITED if swap == "max" else swap))
    if cpu:
        if cpu.shares:
            props.append(("CPUWeight", "t", v2.cpu_weight(cpu.shares)) if unified else ("CPUShares", "t", cpu.shares))
        if cpu.period:
            props.append(("CPUQuotaPeriodUSec", "t", cpu.period))
        if cpu.quota is not None or cpu.period:
            per_second = UNLIMITED
            if cpu.quota and cpu.quota > 0:
                per_second = cpu.quota * 1_000_000 // (cpu.period or 100000)
                per_second = -(-per_second // 10000) * 10000  # systemd's 10 ms granularity, rounded up
            props.append(("CPUQuotaPerSecUSec", "t", per_second))
        if cpu.cpus:
            props.append(("AllowedCPUs", "ay", cpu_mask(cpu.cpus)))
        if cpu.mems:
            props.append(("AllowedMemoryNodes", "ay", cpu_mask(cpu.mems)))
    if resources.pids_limit is not None:
        props.append(("TasksMax", "t", _limit(resources.pids_limit)))
    if resources.block_io and resources.block_io.weight is not None and not unified:
        props.append(("BlockIOWeight", "t", resources.block_io.weight))
    return props


class SystemdDriver:
    """The systemd driver: a container's cgroup is the transient unit `unit`,
    which systemd makes with the first process in it; the files are then
    those of the cgroupfs driver it is mixed with (driver_for), under the
    path systemd gives the unit."""

    driver = "systemd"
    places_stage_a = True  # the launcher has start_unit put stage A in it

    def create(self):
        """Nothing to make yet: systemd makes the cgroup in start_unit, which needs a pid."""

    def start_unit(self, pid, resources):
        """Ask systemd for the scope with `pid` in it and wait for the job;
        then put pid in the hierarchies systemd left alone (v1 controllers it
        does not account), as runc does."""
        props = [("Description", "s", f"ocirun container {self.unit}"), ("Slice", "s", self.slice),
                 ("Delegate", "b", True), ("PIDs", "au", [pid]), ("DefaultDependencies", "b", False),
                 ("MemoryAccounting", "b", True), ("CPUAccounting", "b", True), ("TasksAccounting", "b", True),
                 ("IOAccounting" if self.unified_only else "BlockIOAccounting", "b", True)]
        if resources is not None:
            props += resource_properties(resources, self.unified_only)
        with _Bus(self.rootless) as bus:
            try:
                bus.run_job("StartTransientUnit", "ssa(sv)a(sa(sv))",
                            (self.unit, "replace", _variants(props), []), self.unit)
            except _UnitExists:
                # a failed unit of the same name lingers until reset (runc retries once too)
                bus.call("ResetFailedUnit", "s", (self.unit,), ignore_errors=True)
                bus.run_job("StartTransientUnit", "ssa(sv)a(sa(sv))",
                            (self.unit, "replace", _variants(props), []), self.unit)
        self.owned = True
        if self.unified_only:
            self.enable_all_controllers()  # systemd would, for the accounting asked
        self.make_directories()  # where systemd made them already, this changes nothing
        self.join(pid)

    def set_properties(self, resources):
        """update: tell systemd the new limits, so that it keeps them."""
        props = resource_properties(resources, self.unified_only)
        if props:
            with _Bus(self.rootless) as bus:
                bus.call("SetUnitProperties", "sba(sv)", (self.unit, True, _variants(props)))

    def destroy(self, timeout=5.0):
        """Stop the unit (systemd kills what is left in it), then remove what it leaves."""
        if not self.owned:
            return
        with _Bus(self.rootless) as bus:
            try:
                bus.run_job("StopUnit", "ss", (self.unit, "replace"), self.unit)
            except OcirunError:
                pass  # not loaded (any more): nothing to stop
            bus.call("ResetFailedUnit", "s", (self.unit,), ignore_errors=True)
        super().destroy(timeout)


def driver_for(base, unit, slice_name, mounts, owned=False, rootless=False, path=None):
    """The systemd driver over `base`, this host's cgroupfs driver class (v1 or
    v2); `path` as a container's state recorded it, else where systemd puts
    the unit (below the user manager's own cgroup, rootless)."""
    if rootless and not base.unified_only:
        raise ConfigError("--systemd-cgroup: a rootless container needs cgroup v2 "
                          "(systemd delegates no v1 hierarchy to a user)")
    cls = _SYSTEMD_CLASSES.get(base)
    if cls is None:
        cls = _SYSTEMD_CLASSES[base] = type(f"Systemd{base.__name__}", (SystemdDriver, base), {})
    if path is None:
        path = expand_slice(slice_name).rstrip("/") + "/" + unit
        if rootless:
            with _Bus(user=True) as bus:
                path = bus.manager_cgroup().rstrip("/") + path
    manager = cls(path, mounts, owned=owned, rootless=rootless)
    manager.unit, manager.slice = unit, slice_name
    return manager


_SYSTEMD_CLASSES = {}


def _variants(props):
    return [(name, (signature, value)) for name, signature, value in props]


class _UnitExists(OcirunError):
    pass


class _Bus:
    """A connection to systemd's manager: the system's on the system bus
    (DBUS_SYSTEM_BUS_ADDRESS, as for every D-Bus client), or with `user` the
    user's own on the session bus."""

    def __init__(self, user=False):
        self.user = user

    def __enter__(self):
        from jeepney import DBusAddress, MatchRule, message_bus
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg
        if self.user:
            runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
            address = os.environ.get("DBUS_SESSION_BUS_ADDRESS") or \
                (f"unix:path={runtime_dir}/bus" if runtime_dir else "")
            which = "the user's D-Bus session bus"
        else:
            address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS
            which = "the D-Bus system bus"
        if not address:
            raise OcirunError(f"--systemd-cgroup: no address of {which} (DBUS_SESSION_BUS_ADDRESS, "
                              "XDG_RUNTIME_DIR)")
        try:
            self.connection = open_dbus_connection(bus=address)
        except (OSError, ValueError) as e:
            raise OcirunError(f"--systemd-cgroup: cannot reach systemd on {which} {address}: "
                              f"{getattr(e, 'strerror', None) or e}") from None
        self.manager = DBusAddress(_MANAGER_PATH, bus_name="org.freedesktop.systemd1", interface=_MANAGER_INTERFACE)
        # subscribed before any job starts, so that its end cannot be missed
        self.job_removed = MatchRule(type="signal", interface=_MANAGER_INTERFACE, member="JobRemoved")
        unwrap_msg(self.connection.send_and_get_reply(message_bus.AddMatch(self.job_removed)))
        self.filter = self.connection.filter(self.job_removed, bufsize=1000)
        self.signals = self.filter.__enter__()  # the queue the signals land in
        return self

    def __exit__(self, *exc):
        self.filter.__exit__(*exc)
        self.connection.close()

    def call(self, method, signature, body, ignore_errors=False):
        from jeepney import DBusErrorResponse, new_method_call
        from jeepney.wrappers import unwrap_msg
        try:
            reply = self.connection.send_and_get_reply(new_method_call(self.manager, method, signature, body),
                                                       timeout=JOB_TIMEOUT)
            return unwrap_msg(reply)
        except DBusErrorResponse as e:
            if ignore_errors:
                return None
            text = f"systemd: {method} {body[0]}: {e.data[0] if e.data else e.name}"
            if e.name == "org.freedesktop.systemd1.UnitExists":
                raise _UnitExists(text) from None
            raise OcirunError(text) from None
        except TimeoutError:
            raise OcirunError(f"systemd: {method} {body[0]}: no answer within {JOB_TIMEOUT} s") from None

    def manager_cgroup(self):
        """The manager's own cgroup (a user manager's: .../user@UID.service)."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import unwrap_msg
        properties = DBusAddress(_MANAGER_PATH, bus_name="org.freedesktop.systemd1",
                                 interface="org.freedesktop.DBus.Properties")
        try:
            reply = self.connection.send_and_get_reply(
                new_method_call(properties, "Get", "ss", (_MANAGER_INTERFACE, "ControlGroup")), timeout=JOB_TIMEOUT)
            (_signature, value), = unwrap_msg(reply)
        except Exception as e:  # noqa: BLE001 - a D-Bus error or a timeout, named
            raise OcirunError(f"systemd: the manager's ControlGroup: {e}") from None
        return value

    def run_job(self, method, signature, body, unit):
        """Call a method that queues a job, and wait for the job's end: it must be "done"."""
        import time
        job, = self.call(method, signature, body)
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            try:
                signal = self.connection.recv_until_filtered(self.signals, timeout=deadline - time.monotonic())
            except TimeoutError:
                raise OcirunError(f"systemd: {method} {unit}: the job did not end within {JOB_TIMEOUT} s") from None
            _id, removed_job, _unit, result = signal.body
            if removed_job == job:
                if result != "done":
                    raise OcirunError(f"systemd: {method} {unit}: the job ended {result!r}")
                return
