"""Load a bundle's config.json, validate it, and give the rest of ocirun
typed, read-only objects.

This is the only module that knows config.json's key names: everything else
reads attributes.  A field ocirun does not implement yet is refused here with
a ConfigError naming it, so nothing is ever silently ignored.
"""
import os

from ocirun import jsonio
from ocirun.errors import ConfigError

# namespace type in config.json -> name of the /proc/<pid>/ns file
NAMESPACE_TYPES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}

# Fields that later work will implement.  Until then a config that sets one
# is refused, naming it, rather than run with the field quietly dropped.
# the linux.resources members implemented (cgroups/v1.py, cgroups/devices.py)
_RESOURCES_DONE = ("devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma",
                   "unified")


class Frozen:
    """Attributes set once in __init__, read-only afterwards."""
    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _set(self, **fields):
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def replacing(self, **changes):
        """A copy with some fields changed (exec's process, NOTIFY_SOCKET's mount)."""
        copy = object.__new__(type(self))
        for name in self.__slots__:
            object.__setattr__(copy, name, changes[name] if name in changes else getattr(self, name, None))
        return copy


class Mount(Frozen):
    __slots__ = ("destination", "type", "source", "options", "uid_mappings", "gid_mappings")

    def __init__(self, raw):
        self._set(destination=raw["destination"], type=raw.get("type"),
                  source=raw.get("source"), options=tuple(raw.get("options", ())),
                  uid_mappings=tuple(IdMapping(m) for m in raw.get("uidMappings", ())),
                  gid_mappings=tuple(IdMapping(m) for m in raw.get("gidMappings", ())))


class Namespace(Frozen):
    __slots__ = ("type", "path")

    def __init__(self, raw):
        self._set(type=raw["type"], path=raw.get("path") or None)


class IdMapping(Frozen):
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, raw):
        self._set(container_id=raw["containerID"], host_id=raw["hostID"], size=raw["size"])


class Device(Frozen):
    __slots__ = ("path", "type", "major", "minor", "file_mode", "uid", "gid")

    def __init__(self, raw):
        self._set(path=raw["path"], type=raw["type"], major=raw.get("major", 0),
                  minor=raw.get("minor", 0), file_mode=raw.get("fileMode"),
                  uid=raw.get("uid"), gid=raw.get("gid"))


class Capabilities(Frozen):
    __slots__ = ("bounding", "effective", "inheritable", "permitted", "ambient")

    def __init__(self, raw):
        raw = raw or {}
        self._set(**{name: tuple(raw.get(name, ())) for name in self.__slots__})


class Rlimit(Frozen):
    __slots__ = ("type", "soft", "hard")

    def __init__(self, raw):
        self._set(type=raw["type"], soft=raw["soft"], hard=raw["hard"])


class Scheduler(Frozen):
    __slots__ = ("policy", "nice", "priority", "flags", "runtime", "deadline", "period")

    def __init__(self, raw):
        self._set(policy=raw["policy"], nice=raw.get("nice", 0), priority=raw.get("priority", 0),
                  flags=tuple(raw.get("flags", ())), runtime=raw.get("runtime", 0),
                  deadline=raw.get("deadline", 0), period=raw.get("period", 0))


class IoPriority(Frozen):
    __slots__ = ("io_class", "priority")

    def __init__(self, raw):
        self._set(io_class=raw["class"], priority=raw.get("priority", 0))


class CpuAffinity(Frozen):
    __slots__ = ("initial", "final")

    def __init__(self, raw):
        self._set(initial=raw.get("initial") or None, final=raw.get("final") or None)


class MemoryPolicy(Frozen):
    __slots__ = ("mode", "nodes", "flags")

    def __init__(self, raw):
        self._set(mode=raw["mode"], nodes=raw.get("nodes") or None, flags=tuple(raw.get("flags", ())))


class Personality(Frozen):
    __slots__ = ("domain", "flags")

    def __init__(self, raw):
        self._set(domain=raw["domain"], flags=tuple(raw.get("flags", ())))


def _optional(cls, raw):
    return cls(raw) if raw is not None else None


class DeviceRule(Frozen):
    __slots__ = ("allow", "type", "major", "minor", "access")

    def __init__(self, raw):
        self._set(allow=raw["allow"], type=raw.get("type", "a"), major=raw.get("major"),
                  minor=raw.get("minor"), access=raw.get("access", "rwm"))


def _unset_if_zero(value):
    """runc's reading of these limits, which engines write to: 0 is "not set"
    (Docker sends memory 0, cpu shares 0, blkio weight 0, pids 0...)."""
    return None if value == 0 else value


class MemoryResources(Frozen):
    __slots__ = ("limit", "reservation", "swap", "kernel", "kernel_tcp", "swappiness",
                 "disable_oom_killer", "use_hierarchy", "check_before_update")

    def __init__(self, raw):
        self._set(limit=_unset_if_zero(raw.get("limit")), reservation=_unset_if_zero(raw.get("reservation")),
                  swap=_unset_if_zero(raw.get("swap")), kernel=_unset_if_zero(raw.get("kernel")),
                  kernel_tcp=_unset_if_zero(raw.get("kernelTCP")), swappiness=raw.get("swappiness"),
                  disable_oom_killer=raw.get("disableOOMKiller"), use_hierarchy=raw.get("useHierarchy"),
                  check_before_update=raw.get("checkBeforeUpdate"))


class CpuResources(Frozen):
    __slots__ = ("shares", "quota", "burst", "period", "realtime_runtime", "realtime_period", "cpus", "mems",
                 "idle")

    def __init__(self, raw):
        self._set(shares=_unset_if_zero(raw.get("shares")), quota=_unset_if_zero(raw.get("quota")),
                  burst=raw.get("burst"), period=_unset_if_zero(raw.get("period")),
                  realtime_runtime=_unset_if_zero(raw.get("realtimeRuntime")),
                  realtime_period=_unset_if_zero(raw.get("realtimePeriod")), cpus=raw.get("cpus") or None,
                  mems=raw.get("mems") or None, idle=raw.get("idle"))


class DeviceRate(Frozen):
    """A blockIO entry: major:minor and a rate, or a weight and leaf weight."""
    __slots__ = ("major", "minor", "rate", "weight", "leaf_weight")

    def __init__(self, raw):
        self._set(major=raw["major"], minor=raw["minor"], rate=raw.get("rate"),
                  weight=_unset_if_zero(raw.get("weight")), leaf_weight=_unset_if_zero(raw.get("leafWeight")))


class BlockIoResources(Frozen):
    __slots__ = ("weight", "leaf_weight", "weight_devices", "throttle_read_bps", "throttle_write_bps",
                 "throttle_read_iops", "throttle_write_iops")

    def __init__(self, raw):
        def rates(key):
            return tuple(DeviceRate(d) for d in raw.get(key) or ())
        self._set(weight=_unset_if_zero(raw.get("weight")), leaf_weight=_unset_if_zero(raw.get("leafWeight")),
                  weight_devices=rates("weightDevice"), throttle_read_bps=rates("throttleReadBpsDevice"),
                  throttle_write_bps=rates("throttleWriteBpsDevice"),
                  throttle_read_iops=rates("throttleReadIOPSDevice"),
                  throttle_write_iops=rates("throttleWriteIOPSDevice"))


class NetworkResources(Frozen):
    __slots__ = ("class_id", "priorities")

    def __init__(self, raw):
        self._set(class_id=raw.get("classID"),
                  priorities=tuple((p["name"], p["priority"]) for p in raw.get("priorities") or ()))


class Resources(Frozen):
    """linux.resources, but devices (device_rules): what cgroups/v1.py and v2.py write."""
    __slots__ = ("memory", "cpu", "pids_limit", "block_io", "hugepage_limits", "network", "rdma", "unified")

    def __init__(self, raw):
        self._set(memory=_optional(MemoryResources, raw.get("memory")), cpu=_optional(CpuResources, raw.get("cpu")),
                  pids_limit=_unset_if_zero((raw.get("pids") or {}).get("limit")),
                  block_io=_optional(BlockIoResources, raw.get("blockIO")),
                  # (page size, limit) in order
                  hugepage_limits=tuple((h["pageSize"], h["limit"]) for h in raw.get("hugepageLimits") or ()),
                  network=_optional(NetworkResources, raw.get("network")),
                  # device -> (hcaHandles, hcaObjects), either None when unset
                  rdma={device: (limits.get("hcaHandles"), limits.get("hcaObjects"))
                        for device, limits in (raw.get("rdma") or {}).items()},
                  unified=dict(raw.get("unified") or {}))


class Hook(Frozen):
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, raw):
        self._set(path=raw["path"], args=tuple(raw.get("args", ())), env=tuple(raw.get("env", ())),
                  timeout=raw.get("timeout"))

    def to_json(self):
        """The config.json form, kept in the state for start and delete."""
        return {"path": self.path, "args": list(self.args), "env": list(self.env),
                "timeout": self.timeout}


def hooks_from_json(raw):
    """{phase: (Hook, ...)} for the phases that have hooks."""
    return {phase: tuple(Hook(h) for h in entries) for phase, entries in (raw or {}).items() if entries}


class Process(Frozen):
    __slots__ = ("args", "env", "cwd", "uid", "gid", "additional_gids", "umask",
                 "capabilities", "rlimits", "no_new_privileges", "oom_score_adj", "scheduler",
                 "io_priority", "exec_cpu_affinity", "apparmor_profile", "selinux_label", "terminal",
                 "console_size")

    def __init__(self, raw):
        user = raw.get("user", {})
        self._set(
            args=tuple(raw.get("args", ())),
            env=tuple(raw.get("env", ())),
            cwd=raw["cwd"],
            uid=user.get("uid", 0),
            gid=user.get("gid", 0),
            additional_gids=tuple(user.get("additionalGids", ())),
            umask=user.get("umask"),
            capabilities=Capabilities(raw.get("capabilities")),
            rlimits=tuple(Rlimit(r) for r in raw.get("rlimits", ())),
            no_new_privileges=raw.get("noNewPrivileges", False),
            oom_score_adj=raw.get("oomScoreAdj"),
            scheduler=_optional(Scheduler, raw.get("scheduler")),
            io_priority=_optional(IoPriority, raw.get("ioPriority")),
            # not for the init (config.md): kept for exec
            exec_cpu_affinity=_optional(CpuAffinity, raw.get("execCPUAffinity")),
            apparmor_profile=raw.get("apparmorProfile") or None,
            selinux_label=raw.get("selinuxLabel") or None,
            terminal=raw.get("terminal", False),
            # (rows, columns) of the pty, or None: the kernel's default
            console_size=(raw["consoleSize"]["height"], raw["consoleSize"]["width"]) if "consoleSize" in raw else None,
        )

    def environ(self):
        """env as the dict execve takes (an entry without "=" is an empty variable)."""
        return dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in self.env)


class Config(Frozen):
    __slots__ = ("bundle", "oci_version", "root_path", "root_readonly", "hostname",
                 "domainname", "mounts", "process", "namespaces", "uid_mappings",
                 "gid_mappings", "devices", "masked_paths", "readonly_paths", "sysctl",
                 "rootfs_propagation", "cgroups_path", "time_offsets", "annotations", "hooks",
                 "personality", "mount_label", "net_devices", "memory_policy", "intel_rdt",
                 "seccomp", "device_rules", "resources", "text")

    def __init__(self, raw, bundle):
        linux = raw.get("linux", {})
        root_path = raw["root"]["path"]
        self._set(
            bundle=bundle,
            oci_version=raw["ociVersion"],
            root_path=os.path.normpath(os.path.join(bundle, root_path)),
            root_readonly=raw["root"].get("readonly", False),
            hostname=raw.get("hostname"),
            domainname=raw.get("domainname"),
            mounts=tuple(Mount(m) for m in raw.get("mounts", ())),
            process=Process(raw["process"]) if "process" in raw else None,
            namespaces=tuple(Namespace(n) for n in linux.get("namespaces", ())),
            uid_mappings=tuple(IdMapping(m) for m in linux.get("uidMappings", ())),
            gid_mappings=tuple(IdMapping(m) for m in linux.get("gidMappings", ())),
            devices=tuple(Device(d) for d in linux.get("devices", ())),
            masked_paths=tuple(linux.get("maskedPaths", ())),
            readonly_paths=tuple(linux.get("readonlyPaths", ())),
            sysctl=dict(linux.get("sysctl", {})),
            rootfs_propagation=linux.get("rootfsPropagation"),
            cgroups_path=linux.get("cgroupsPath"),
            time_offsets={clock: (o.get("secs", 0), o.get("nanosecs", 0))
                          for clock, o in linux.get("timeOffsets", {}).items()},
            annotations=dict(raw.get("annotations", {})),
            hooks=hooks_from_json(raw.get("hooks")),
            personality=_optional(Personality, linux.get("personality")),
            memory_policy=_optional(MemoryPolicy, linux.get("memoryPolicy")),
            intel_rdt=dict(linux.get("intelRdt") or {}),
            seccomp=linux.get("seccomp"),  # as in config.json: linux/seccomp.py compiles it
            device_rules=tuple(DeviceRule(d) for d in linux.get("resources", {}).get("devices", ())),
            resources=_optional(Resources, linux.get("resources")),
            mount_label=linux.get("mountLabel") or None,
            # host name -> name in the container (None: the same)
            net_devices={host_name: (device or {}).get("name") or None
                         for host_name, device in linux.get("netDevices", {}).items()},
        )

    def namespace(self, ns_type):
        """The Namespace entry of that type, or None when the container shares the host's."""
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None


def load(bundle):
    """Read, validate and type <bundle>/config.json."""
    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise ConfigError(f"bundle {bundle}: no such directory")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            text = f.read()
        raw = jsonio.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"bundle {bundle}: config.json not found") from None
    except ValueError as e:
        raise ConfigError(f"config.json: not valid JSON: {e}") from None
    accept_file_type_bits(raw)
    validate_with_runc_extensions(raw)
    check_supported(raw)
    config = Config(raw, bundle)
    check_consistent(config)
    object.__setattr__(config, "text", text)  # as validated, for the state directory (exec reads it)
    return config


# linux.devices[].type -> the st_mode file type bits of such a node
_DEVICE_TYPE_BITS = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}


def accept_file_type_bits(raw):
    """podman sends a device's fileMode as the host node's st_mode, file type
    bits included (0o20666 for a char device), which the schema's maximum
    (0o777) refuses and runc, which does not validate, takes.  Bits that are
    exactly the device's own type are dropped; anything else stays for the
    schema to refuse."""
    linux = raw.get("linux")
    devices = linux.get("devices") if isinstance(linux, dict) else None
    for device in devices if isinstance(devices, list) else ():
        if not isinstance(device, dict):
            continue
        mode = device.get("fileMode")
        if isinstance(mode, int) and mode > 0o777 and mode & ~0o777 == _DEVICE_TYPE_BITS.get(device.get("type")):
            device["fileMode"] = mode & 0o777


# runc's extension to runtime-spec's four values of linux.rootfsPropagation:
# the recursive forms (containerd's CRI writes them for mount propagation)
_RECURSIVE_ROOT_PROPAGATION = frozenset(("rshared", "rslave", "rprivate", "runbindable"))


def validate_with_runc_extensions(raw):
    """The schema's validation, with linux.rootfsPropagation's recursive forms
    taken for the form they extend."""
    from ocirun.schema import validate_config
    linux = raw.get("linux")
    propagation = linux.get("rootfsPropagation") if isinstance(linux, dict) else None
    if propagation not in _RECURSIVE_ROOT_PROPAGATION:
        validate_config(raw)
        return
    linux["rootfsPropagation"] = propagation[1:]
    try:
        validate_config(raw)
    finally:
        linux["rootfsPropagation"] = propagation


def from_saved(text, bundle):
    """A Config from the copy create kept, validated then."""
    return Config(jsonio.loads(text), bundle)


def exec_process(raw):
    """A process JSON for exec (runc exec --process, or the container's own
    with runc exec's flags applied), checked as config.json's would be."""
    from ocirun.schema import validate_config
    from ocirun import OCI_VERSION
    try:
        validate_config({"ociVersion": OCI_VERSION, "process": raw})
    except ConfigError as e:
        raise ConfigError(str(e).replace("config.json: process", "exec: process", 1)) from None
    process = Process(raw)
    if not process.args:
        raise ConfigError("exec: process.args: at least one argument is required")
    if not process.cwd.startswith("/"):
        raise ConfigError(f"exec: process.cwd: {process.cwd!r} is not an absolute path")
    return process


def check_supported(raw):
    """Refuse, by name, every field set in `raw` that ocirun does not implement yet."""
    check_resources(raw.get("linux", {}).get("resources", {}), "config.json: linux.resources")


def check_resources(resources, where):
    """Refuse, by name, a linux.resources member not implemented yet."""
    if not isinstance(resources, dict):
        raise ConfigError(f"{where}: not a JSON object")
    for key, value in resources.items():
        if key not in _RESOURCES_DONE and _is_set(value):
            raise ConfigError(f"{where}.{key}: cgroup resource limits not supported yet")


def _is_set(value):
    """False for absent, false, empty, or a dict whose every member is unset
    (e.g. "hooks": {"prestart": []})."""
    if isinstance(value, dict):
        return any(_is_set(v) for v in value.values())
    return value not in (None, False, [], "")


def check_consistent(config):
    """Rules the schema cannot express."""
    if not os.path.isdir(config.root_path):
        raise ConfigError(f"root.path {config.root_path}: no such directory")
    if config.process is None:
        raise ConfigError("config.json: process: required to create a container")
    if not config.process.args:
        raise ConfigError("config.json: process.args: at least one argument is required")
    if not config.process.cwd.startswith("/"):
        raise ConfigError(f"config.json: process.cwd: {config.process.cwd!r} is not an absolute path")
    seen = set()
    for i, ns in enumerate(config.namespaces):
        if ns.type in seen:
            raise ConfigError(f"config.json: linux.namespaces[{i}]: duplicate namespace type {ns.type!r}")
        seen.add(ns.type)
    if "mount" not in seen:
        # The container shares the host's mounts (config-linux.md: it inherits
        # the runtime's namespace): its mounts are the host's, made under the
        # rootfs and undone by delete.  What would change the host itself is
        # refused, as runc does for masked and read-only paths.
        for field, value in (("linux.maskedPaths", config.masked_paths),
                             ("linux.readonlyPaths", config.readonly_paths),
                             ("linux.rootfsPropagation", config.rootfs_propagation),
                             ("root.readonly", config.root_readonly)):
            if value:
                raise ConfigError(f"config.json: {field}: needs a mount namespace (the container shares the host's)")
    user = config.namespace("user")
    if (config.uid_mappings or config.gid_mappings) and not (user and not user.path):
        raise ConfigError("config.json: linux.uidMappings: id mappings need a new user namespace")
    if user and not user.path and not (config.uid_mappings and config.gid_mappings):
        raise ConfigError("config.json: linux.uidMappings: a new user namespace needs uid and gid mappings")
    if config.hostname and not config.namespace("uts"):
        # A joined one is the container's to name, as with runc; the host's is not.
        raise ConfigError("config.json: hostname: setting it needs a uts namespace")
    if config.time_offsets and not (config.namespace("time") and not config.namespace("time").path):
        raise ConfigError("config.json: linux.timeOffsets: setting them needs a new time namespace")
    for phase, hooks in config.hooks.items():
        for i, hook in enumerate(hooks):
            if not hook.path.startswith("/"):
                raise ConfigError(f"config.json: hooks.{phase}[{i}].path: {hook.path!r} is not an absolute path")
    for i, mount in enumerate(config.mounts):
        if not mount.destination.startswith("/"):
            raise ConfigError(f"config.json: mounts[{i}].destination: {mount.destination!r} is not an absolute path")
        check_proc_mount(mount, f"config.json: mounts[{i}]")


# Under /proc nothing but procfs is mounted, except the files lxcfs emulates
# (runc's list): a volume over /proc/sys/kernel would turn writes meant for
# the kernel into writes to files the container chose.
PROC_MOUNT_ALLOWED = frozenset((
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
    "/proc/loadavg", "/proc/slabinfo", "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled",
))


def check_proc_mount(mount, where):
    """runc's rule: on /proc only a procfs (or a bind of one, checked at mount
    time), and below it only the files lxcfs emulates.  A volume over
    /proc/sys/kernel would turn the kernel's files into the container's
    (rootfs.py checks again where a destination really lands)."""
    destination = os.path.normpath("/" + mount.destination.lstrip("/"))
    if mount.type == "proc" or destination in PROC_MOUNT_ALLOWED:
        return
    if destination == "/proc" and "bind" not in mount.options and "rbind" not in mount.options:
        raise ConfigError(f"{where}: {mount.destination!r} cannot be mounted because it is not of type proc")
    if destination.startswith("/proc/"):
        raise ConfigError(f"{where}: {mount.destination!r}: nothing but procfs is mounted under /proc")
