"""Load a bundle's config.json, validate it, and give the rest of ocirun
typed, read-only objects.

This is the only module that knows config.json's key names: everything else
reads attributes.  A field ocirun does not implement yet is refused here with
a ConfigError naming it, so nothing is ever silently ignored.
"""
import os

from ocirun import jsonio
from ocirun.version import OCI_VERSION
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


class SeccompArg(Frozen):
    __slots__ = ("index", "value", "value_two", "op")

    def __init__(self, raw):
        self._set(index=raw["index"], value=raw["value"], value_two=raw.get("valueTwo", 0), op=raw["op"])


class SeccompRule(Frozen):
    __slots__ = ("names", "action", "errno_ret", "args")

    def __init__(self, raw):
        self._set(names=tuple(raw["names"]), action=raw["action"], errno_ret=raw.get("errnoRet"),
                  args=tuple(SeccompArg(a) for a in raw.get("args") or ()))


class Seccomp(Frozen):
    """linux.seccomp; `key` is its JSON, which names a compiled program in the cache."""
    __slots__ = ("default_action", "default_errno_ret", "architectures", "flags", "listener_path",
                 "listener_metadata", "syscalls", "key")

    def __init__(self, raw):
        self._set(default_action=raw["defaultAction"], default_errno_ret=raw.get("defaultErrnoRet"),
                  architectures=tuple(raw.get("architectures", ())), flags=tuple(raw.get("flags", ())),
                  listener_path=raw.get("listenerPath") or None,
                  listener_metadata=raw.get("listenerMetadata", ""),
                  syscalls=tuple(SeccompRule(r) for r in raw.get("syscalls", ())), key=jsonio.dumps(raw))


class Hook(Frozen):
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, raw):
        # env None: config.json has none (not an empty list), and the hook gets the runtime's
        self._set(path=raw["path"], args=tuple(raw.get("args", ())),
                  env=tuple(raw["env"]) if raw.get("env") is not None else None, timeout=raw.get("timeout"))

    def to_json(self):
        """The config.json form, kept in the state for start and delete."""
        hook = {"path": self.path, "args": list(self.args), "timeout": self.timeout}
        if self.env is not None:
            hook["env"] = list(self.env)
        return hook


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
        """env as the dict execve takes.  An entry runc refuses is an error in
        its words: one without "=", or with an empty name (execve would take
        neither; an empty entry once killed the init after create)."""
        environ = {}
        for index, entry in enumerate(self.env):
            name, equals, value = entry.partition("=")
            if not equals or not name:
                what = "invalid environment variable" if not equals else "environment variable name can't be empty"
                raise ConfigError(f"config.json: process.env[{index}]: {what}: {jsonio.dumps(entry)}")
            environ[name] = value
        return environ


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
            seccomp=_optional(Seccomp, linux.get("seccomp")),
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
    check_beyond_schema(raw)
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


class ExecFlags(Frozen):
    """runc exec's flags, as typed values (cli.py parses them)."""
    __slots__ = ("args", "tty", "cwd", "env", "uid", "gid", "additional_gids", "caps", "no_new_privs",
                 "apparmor", "process_label")

    def __init__(self, args, tty=False, cwd=None, env=(), uid=None, gid=None, additional_gids=(), caps=(),
                 no_new_privs=False, apparmor=None, process_label=None):
        self._set(args=tuple(args), tty=tty, cwd=cwd, env=tuple(env), uid=uid, gid=gid,
                  additional_gids=tuple(additional_gids), caps=tuple(caps), no_new_privs=no_new_privs,
                  apparmor=apparmor, process_label=process_label)


def exec_process_from_flags(saved_text, flags):
    """The container's process, from the config.json create saved, with runc
    exec's flags (an ExecFlags) applied: what `runc exec ID ARGS` runs."""
    raw = dict(jsonio.loads(saved_text)["process"])
    raw["args"] = list(flags.args)
    raw["terminal"] = flags.tty
    raw.pop("consoleSize", None)
    if flags.cwd:
        raw["cwd"] = flags.cwd
    if flags.env:
        # later entries win, as for runc: drop the template's of the same name
        names = {entry.split("=", 1)[0] for entry in flags.env}
        raw["env"] = [e for e in raw.get("env", []) if e.split("=", 1)[0] not in names] + list(flags.env)
    user = dict(raw.get("user", {}))
    if flags.uid is not None:
        user["uid"], user["gid"] = flags.uid, flags.gid or 0
    if flags.additional_gids:
        user["additionalGids"] = list(flags.additional_gids)
    raw["user"] = user
    if flags.caps:
        caps = {name: list(values) for name, values in (raw.get("capabilities") or {}).items()}
        for cap in flags.caps:
            for name in ("bounding", "effective", "permitted") + (("ambient",) if "inheritable" in caps else ()):
                caps.setdefault(name, []).append(cap)
        raw["capabilities"] = caps
    if flags.no_new_privs:
        raw["noNewPrivileges"] = True
    if flags.apparmor:
        raw["apparmorProfile"] = flags.apparmor
    if flags.process_label:
        raw["selinuxLabel"] = flags.process_label
    return exec_process(raw)


# runc update's values -> where they go in linux.resources
UPDATE_FIELDS = {
    "memory": ("memory", "limit"), "memory_swap": ("memory", "swap"),
    "memory_reservation": ("memory", "reservation"), "kernel_memory": ("memory", "kernel"),
    "kernel_memory_tcp": ("memory", "kernelTCP"), "cpu_shares": ("cpu", "shares"),
    "cpu_quota": ("cpu", "quota"), "cpu_period": ("cpu", "period"),
    "cpu_rt_period": ("cpu", "realtimePeriod"), "cpu_rt_runtime": ("cpu", "realtimeRuntime"),
    "cpuset_cpus": ("cpu", "cpus"), "cpuset_mems": ("cpu", "mems"),
    "pids_limit": ("pids", "limit"), "blkio_weight": ("blockIO", "weight"),
}


class ResourceUpdate(Frozen):
    """What `update` changes: linux.resources typed, and its device rules."""
    __slots__ = ("resources", "device_rules")

    def __init__(self, resources, device_rules):
        self._set(resources=resources, device_rules=device_rules)


def resource_update(text=None, values=None):
    """update's resources: a linux.resources object (`text`, JSON, from -r)
    with runc update's values (UPDATE_FIELDS' names) applied over it,
    checked as config.json's would be.  None when nothing is asked."""
    raw = {}
    if text is not None:
        try:
            raw = jsonio.loads(text)
        except ValueError as e:
            raise ConfigError(f"update: --resources: not valid JSON: {e}") from None
    for name, value in (values or {}).items():
        if value is not None:
            section, key = UPDATE_FIELDS[name]
            raw.setdefault(section, {})[key] = value
    if not raw:
        return None
    check_resources(raw, "update: resources")
    from ocirun.schema import validate_config
    try:  # the schema's rules for linux.resources, in a document of nothing else
        validate_config({"ociVersion": OCI_VERSION, "linux": {"resources": raw}})
    except ConfigError as e:
        raise ConfigError(str(e).replace("config.json: linux.resources", "update: resources", 1)) from None
    return ResourceUpdate(Resources(raw), tuple(DeviceRule(rule) for rule in raw.get("devices") or ()))


def with_bind_mount(config, source, destination, options, env=()):
    """The config with one more bind mount, and `env` entries ("NAME=value")
    set for its process (NOTIFY_SOCKET's directory: notify_socket.py)."""
    mount = Mount({"destination": destination, "type": "bind", "source": source, "options": list(options)})
    names = {entry.split("=", 1)[0] for entry in env}
    kept = tuple(e for e in config.process.env if e.split("=", 1)[0] not in names)
    process = config.process.replacing(env=kept + tuple(env))
    return config.replacing(mounts=config.mounts + (mount,), process=process)


# members runtime-spec v1.3.0 calls REQUIRED and its schema does not
_REQUIRED_MEMBERS = (
    (("root",), "path"),
    (("linux", "memoryPolicy"), "mode"),
    (("linux", "personality"), "domain"),
)
_CLOCKS = ("boottime", "monotonic")


def check_beyond_schema(raw):
    """What the schema lets through and the spec or the kernel does not:
    REQUIRED members it leaves optional, clocks it does not name, and NUL in
    a string (every string but an annotation reaches the kernel as a C string)."""
    for parents, member in _REQUIRED_MEMBERS:
        value = raw
        for key in parents:
            value = value.get(key) if isinstance(value, dict) else None
        if (value is not None or parents == ("root",)) and not (isinstance(value, dict) and member in value):
            raise ConfigError(f"config.json: {'.'.join(parents + (member,))}: required")
    offsets = raw.get("linux", {}).get("timeOffsets", {})
    for clock, offset in offsets.items():
        if clock not in _CLOCKS or not isinstance(offset, dict):
            raise ConfigError(f"config.json: linux.timeOffsets.{clock}: not a clock offset "
                              f"({' or '.join(_CLOCKS)}, an object)")
    where = _path_of_nul({key: value for key, value in raw.items() if key != "annotations"}, "")
    if where is not None:
        raise ConfigError(f"config.json: {where}: contains a NUL byte")


def _path_of_nul(value, where):
    """The path (linux.cgroupsPath, mounts[2].source...) of the first string
    holding a NUL, keys included, or None."""
    if isinstance(value, str):
        return where if "\0" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        inner = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key
        if isinstance(key, str) and "\0" in key:
            return inner
        found = _path_of_nul(item, inner)
        if found is not None:
            return found
    return None


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


# --- the default config.json (`ocirun spec`, specgen.py) -----------------------------------

# runc's short default list: enough to bind low ports and signal processes,
# nothing that reaches outside the container.
DEFAULT_CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
]

READONLY_PATHS = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
]


def default_config(args=None, rootless=False):
    """A new config dict, runc 1.1's `runc spec` but for the hostname and the
    spec version; `args` replaces the default ["sh"]."""
    config = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,  # `ocirun run` relays it; create and run -d take --console-socket
            "user": {"uid": 0, "gid": 0},
            "args": list(args) if args is not None else ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            # ambient too, as runc writes it: they are not inheritable, so the
            # kernel raises none of them, silently (see capabilities.apply)
            "capabilities": {
                kind: list(DEFAULT_CAPABILITIES)
                for kind in ("bounding", "effective", "permitted", "ambient")
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "ocirun",
        "mounts": _default_mounts(),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    if rootless:
        _make_rootless(config)
    return config


def _default_mounts():
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]


def plain_config(args=None):
    """default_config for a bundle run without a console (bundles.py: the demo
    and the tests): no terminal, and none of what runc's default adds for an
    interactive shell (ambient capabilities, the cgroup mount, deny-all
    device rules)."""
    config = default_config(args)
    config["process"]["terminal"] = False
    del config["process"]["capabilities"]["ambient"]
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    del config["linux"]["resources"]
    return config


def _make_rootless(config):
    """Apply the changes `runc spec --rootless` makes, for an unprivileged user."""
    linux = config["linux"]
    del linux["resources"]  # an unprivileged user sets no cgroup limits
    # An unprivileged user may not create a network namespace without a user
    # namespace it owns, and gets no veth anyway: share the host's network.
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    for mount in config["mounts"]:
        if mount["destination"] == "/dev/pts":
            # gid 5 (tty) is not mapped inside a single-id user namespace.
            mount["options"] = [opt for opt in mount["options"] if opt != "gid=5"]
        elif mount["destination"] == "/sys":
            # A fresh sysfs needs a network namespace the user owns; bind the
            # host's instead.
            mount.update(type="none", source="/sys",
                         options=["rbind", "nosuid", "noexec", "nodev", "ro"])


# --- podman's seccomp profile format, made linux.seccomp (bundles.py, benchmarks) -------

# podman's and Docker's profiles (containers-common: /usr/share/containers/seccomp.json)
# name architectures the Go way in includes/excludes
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
_NATIVE_SCMP_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "ppc64le": "SCMP_ARCH_PPC64LE",
                     "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64"}


def oci_seccomp_from_containers_profile(profile, capabilities, machine=None, kernel=None):
    """The linux.seccomp podman writes into config.json from its own profile
    format: this machine's architectures from archMap, and each rule kept or
    dropped by its includes/excludes (caps held by the container, arches,
    minKernel), as containers/common does."""
    machine = machine or os.uname().machine
    kernel = kernel or tuple(int(p) for p in os.uname().release.split("-")[0].split(".")[:2])
    native = _NATIVE_SCMP_ARCH.get(machine)
    architectures = []
    for entry in profile.get("archMap") or ():
        if entry["architecture"] == native:
            architectures = [entry["architecture"], *entry.get("subArchitectures", ())]
    held = set(capabilities)
    syscalls = []
    for rule in profile.get("syscalls") or ():
        includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
        if not held.issuperset(includes.get("caps") or ()) or held.intersection(excludes.get("caps") or ()):
            continue
        arch = _GO_ARCH.get(machine, machine)
        if includes.get("arches") and arch not in includes["arches"]:
            continue
        if arch in (excludes.get("arches") or ()):
            continue
        min_kernel = includes.get("minKernel")
        if min_kernel and kernel < tuple(int(p) for p in min_kernel.split(".")[:2]):
            continue
        oci = {"names": rule["names"], "action": rule["action"]}
        if rule.get("args"):
            oci["args"] = rule["args"]
        if rule.get("errnoRet") is not None:
            oci["errnoRet"] = rule["errnoRet"]
        syscalls.append(oci)
    seccomp = {"defaultAction": profile["defaultAction"], "architectures": architectures, "syscalls": syscalls}
    if profile.get("defaultErrnoRet") is not None:
        seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return seccomp


def with_containers_seccomp_profile(raw_config, profile):
    """A config.json object with linux.seccomp made from a profile in podman's
    format, for the capabilities its process holds."""
    bounding = raw_config["process"].get("capabilities", {}).get("bounding", ())
    raw_config["linux"]["seccomp"] = oci_seccomp_from_containers_profile(profile, bounding)
    return raw_config
