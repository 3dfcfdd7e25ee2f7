"""Cgroup placement: one Manager over every hierarchy this host mounts.

For now a container gets its own cgroup in each hierarchy (v1 controllers,
the v1 name= hierarchies and the unified one), so that its processes can be
listed, signalled and cleaned up as a whole; resource limits are refused in
config.py until they are implemented here.
"""
import errno
import os
import time
from _signal import SIGKILL

from ocirun.errors import ConfigError, OcirunError

DEFAULT_PARENT = "/ocirun"


def mounted_hierarchies(mountinfo="/proc/self/mountinfo"):
    """Mount points of every cgroup (v1) and cgroup2 filesystem, by name."""
    hierarchies = {}
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, options = fields[sep + 1], fields[sep + 3]
            if fstype == "cgroup2":
                hierarchies.setdefault("unified", fields[4])
            elif fstype == "cgroup":
                names = [o for o in options.split(",") if o not in ("rw", "ro") and "=" not in o
                         or o.startswith("name=")]
                hierarchies.setdefault(",".join(sorted(names)), fields[4])
    return hierarchies


_primed = False


def prime_attach(own_cgroups="/proc/self/cgroup", mountinfo="/proc/self/mountinfo"):
    """Start, in a thread, the wait the container's first cgroup.procs write would pay.

    Every cgroup.procs write takes the kernel's global cgroup_threadgroup_rwsem
    for writing, and the first writer after a quiet spell waits for an RCU
    grace period (measured here: 8-30 ms, then ~0.1 ms for writes within the
    next grace period).  The thread writes this process's pid into the cgroup
    it is already in, which moves nothing but starts that grace period while
    the main thread imports, parses the config and forks the container.  A
    thread, not a child: it starts in ~0.1 ms where a fork of the interpreter
    takes milliseconds to run.  It holds no Python lock while the kernel
    makes it wait, so the main thread's forks are safe, and it dies with the
    process.  Idempotent.
    """
    global _primed
    if _primed:
        return
    _primed = True
    path = _own_procs_file(own_cgroups, mountinfo)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return  # e.g. no write access: then create pays the wait itself
    import _thread
    in_kernel = _thread.allocate_lock()
    in_kernel.acquire()
    _thread.start_new_thread(_write_own_pid, (fd, in_kernel))
    # Hand the thread the GIL now: otherwise it waits for the interpreter's
    # 5 ms switch interval before it can even start its write.
    in_kernel.acquire()


def _write_own_pid(fd, in_kernel):
    pid = str(os.getpid()).encode()
    in_kernel.release()
    try:
        os.write(fd, pid)  # releases the GIL for as long as the kernel waits
    except OSError:
        pass
    finally:
        os.close(fd)


def _own_procs_file(own_cgroups, mountinfo):
    """The cgroup.procs file of this process's own cgroup in one mounted hierarchy."""
    try:
        mounts = mounted_hierarchies(mountinfo)
        with open(own_cgroups) as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                mount = mounts.get(controllers or "unified")
                if mount:
                    return os.path.join(mount, path.lstrip("/"), "cgroup.procs")
    except OSError:
        pass
    return None


def container_cgroup_path(cgroups_path, container_id):
    if not cgroups_path:
        return f"{DEFAULT_PARENT}/{container_id}"
    return "/" + cgroups_path.strip("/")


class Manager:
    """One container's cgroup, `path`, in each hierarchy of `mounts` (name -> mount point)."""

    def __init__(self, path, mounts, owned=True, created_from=None):
        self.path = path
        self.mounts = mounts
        # destroy() removes and kills only a cgroup this container made (or,
        # loaded from its state, is known to own)
        self.owned = owned
        # the shallowest parent of path that create() made, which destroy()
        # removes again when nothing else lives there (None: only the leaf)
        self.created_from = created_from

    @classmethod
    def for_container(cls, cgroups_path, container_id):
        return cls(container_cgroup_path(cgroups_path, container_id), mounted_hierarchies(), owned=False)

    def directories(self):
        return [os.path.join(mount, self.path.lstrip("/")) for mount in self.mounts.values()]

    def directory(self, controller):
        """The container's directory for a controller: in the unified hierarchy
        on a cgroup v2 host, else in the v1 hierarchy that carries it (None
        when none does)."""
        if self.unified_only:
            mount = self.mounts["unified"]
        else:
            mount = next((m for name, m in self.mounts.items()
                          if name != "unified" and controller in name.split(",")), None)
        return os.path.join(mount, self.path.lstrip("/")) if mount else None

    def create(self):
        """Make the cgroup in every hierarchy; one that already holds processes
        belongs to something else, and joining it would let delete kill them."""
        busy = self.pids()
        if busy:
            raise OcirunError(f"cgroup {self.path} is not empty: {len(busy)} processes are in it")
        parts = self.path.strip("/").split("/")
        shallowest = len(parts) - 1
        for name, mount in self.mounts.items():
            directory = mount
            for depth, part in enumerate(parts):
                directory = os.path.join(directory, part)
                try:
                    os.mkdir(directory, 0o755)
                    shallowest = min(shallowest, depth)
                except FileExistsError:
                    pass
                if "cpuset" in name.split(","):
                    # a parent made by someone else may have none either
                    _inherit_cpuset(directory)
        self.owned = True
        if shallowest < len(parts) - 1 and "/" + "/".join(parts[:shallowest + 1]) != DEFAULT_PARENT:
            self.created_from = "/" + "/".join(parts[:shallowest + 1])

    def apply_device_rules(self, configured):
        """linux.resources.devices: the v1 devices controller's files, or on
        cgroup v2 an eBPF program attached to the cgroup."""
        from ocirun.cgroups import devices
        rules = devices.rules_for(devices.DeviceRule(r.allow, r.type, r.major, r.minor, r.access)
                                  for r in configured)
        if self.unified_only:
            self._attach_device_program(rules)
            return
        directory = self.directory("devices")
        if directory is None:
            raise OcirunError("config.json: linux.resources.devices: this host has no v1 devices controller")
        devices.apply(directory, rules)

    def _attach_device_program(self, rules):
        from ocirun import _sys
        from ocirun.cgroups import devices_bpf
        directory = self.directory("devices")
        program = _sys.bpf_prog_load_cgroup_device(devices_bpf.program(rules))
        try:
            target = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                _sys.bpf_prog_attach(target, program, _sys.BPF_CGROUP_DEVICE, _sys.BPF_F_ALLOW_MULTI,
                                     what=f"attach the device program to {directory}")
            finally:
                os.close(target)
        finally:
            os.close(program)  # the cgroup keeps it

    @property
    def unified_only(self):
        """A cgroup v2 host: no v1 controller hierarchy (a hybrid host counts as v1, as for runc)."""
        return not any(name != "unified" and not name.startswith("name=") for name in self.mounts)

    def apply_resources(self, resources, warn, updating=False, where="config.json: linux.resources"):
        """linux.resources (but devices) on this host's controllers; warn(text)
        for what the spec lets a runtime skip.  updating: the cgroup has limits
        already, which decide the order of some v1 writes."""
        from ocirun.cgroups import v1, v2
        if self.unified_only:
            try:
                planned = v2.writes(resources)
            except ConfigError as e:
                raise OcirunError(str(e).replace("linux.resources", where, 1)) from None
            self._enable_controllers({controller for controller, *_ in planned})
        else:
            planned = v1.writes(resources, self._current_memory_limit() if updating else None)
        for controller, names, value, field in planned:
            field_name = f"{where}.{field}"
            if names is None:
                warn(f"{field_name}: ignored, as the kernel no longer limits kernel memory")
                continue
            directory = self.directory(controller)
            if directory is None:
                raise OcirunError(f"{field_name}: this host has no v1 {controller} controller")
            candidates = [os.path.join(directory, name) for name in names.split("|")]
            path = next((c for c in candidates if os.path.exists(c)), None)
            try:
                if path is None:
                    raise FileNotFoundError(2, f"the kernel has no {names.replace('|', ' or ')}")
                with open(path, "w") as f:
                    f.write(str(value))
            except OSError as e:
                message = f"{field_name}: write {value} to {names.split('|')[0]}: {e.strerror}"
                if field in v1.BEST_EFFORT:
                    warn(f"{message}; ignored, as the kernel no longer limits kernel memory")
                    continue
                raise OcirunError(message) from None

    def stats(self):
        """runc's stats (cpu, memory, pids, blkio) from the v1 or v2 files."""
        from ocirun.cgroups import stats
        if self.unified_only:
            return stats.collect_v2(self.directory("cpu"))
        return stats.collect(self.directory)

    def oom_eventfd(self):
        """An eventfd the kernel signals on each OOM in the container's memory
        cgroup (v1 cgroup.event_control), or None without a v1 memory controller
        (v2's memory.events would need inotify: not done yet)."""
        directory = None if self.unified_only else self.directory("memory")
        if directory is None:
            return None
        event = os.eventfd(0, os.EFD_CLOEXEC)
        control = os.open(os.path.join(directory, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _write(os.path.join(directory, "cgroup.event_control"), f"{event} {control}")
        except OSError:
            os.close(event)
            raise
        finally:
            os.close(control)  # the kernel keeps its own reference
        return event

    def _enable_controllers(self, controllers):
        """cgroup v2: a controller's files appear in a cgroup only once every
        ancestor enables it in cgroup.subtree_control."""
        mount = self.mounts["unified"]
        available = set(_read(os.path.join(mount, "cgroup.controllers")).split())
        missing = controllers - available
        if missing:
            raise OcirunError(f"config.json: linux.resources: this host's cgroup v2 has no "
                              f"{', '.join(sorted(missing))} controller")
        directory = mount
        for part in [""] + self.path.strip("/").split("/")[:-1]:
            directory = os.path.join(directory, part) if part else directory
            control = os.path.join(directory, "cgroup.subtree_control")
            enabled = set(_read(control).split())
            wanted = controllers - enabled
            if wanted:
                try:
                    _write(control, " ".join(f"+{c}" for c in sorted(wanted)))
                except OSError as e:
                    raise OcirunError(f"cgroup {directory}: enable {', '.join(sorted(wanted))}: {e.strerror}") from None

    def _current_memory_limit(self):
        directory = self.directory("memory")
        if directory is None:
            return None
        try:
            return int(_read(os.path.join(directory, "memory.limit_in_bytes")))
        except (OSError, ValueError):
            return None

    def freeze(self, timeout=5.0):
        """v1 freezer: FROZEN once every task is stopped (FREEZING meanwhile);
        v2: cgroup.freeze, done when cgroup.events says frozen 1."""
        if self.unified_only:
            directory = self.directory("freezer")
            _write(os.path.join(directory, "cgroup.freeze"), "1")
            deadline = time.monotonic() + timeout
            while "frozen 1" not in _read(os.path.join(directory, "cgroup.events")):
                if time.monotonic() > deadline:
                    _write(os.path.join(directory, "cgroup.freeze"), "0")
                    raise OcirunError(f"cgroup {self.path}: not frozen within {timeout:g}s")
                time.sleep(0.001)
            return
        state = self._freezer_state_file()
        _write(state, "FROZEN")
        deadline = time.monotonic() + timeout
        while _read(state) != "FROZEN":
            if time.monotonic() > deadline:
                _write(state, "THAWED")
                raise OcirunError(f"cgroup {self.path}: not frozen within {timeout:g}s")
            time.sleep(0.001)

    def thaw(self):
        if self.unified_only:
            _write(os.path.join(self.directory("freezer"), "cgroup.freeze"), "0")
            return
        _write(self._freezer_state_file(), "THAWED")

    def _freezer_state_file(self):
        directory = self.directory("freezer")
        if directory is None:
            raise OcirunError("this host has no v1 freezer controller")
        return os.path.join(directory, "freezer.state")

    def join(self, pid):
        for directory in self.directories():
            path = os.path.join(directory, "cgroup.procs")
            try:
                with open(path, "w") as f:
                    f.write(str(pid))
            except OSError as e:
                raise OcirunError(f"move process {pid} into cgroup {directory}: {e.strerror}") from None

    def pids(self):
        """Every process in the container's cgroup."""
        for directory in self.directories():
            try:
                with open(os.path.join(directory, "cgroup.procs")) as f:
                    return [int(line) for line in f if line.strip()]
            except FileNotFoundError:
                continue
        return []

    def signal_all(self, signum):
        for pid in self.pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def destroy(self, timeout=5.0):
        """Remove the container's cgroup from every hierarchy, deepest level only:
        shared parents such as /ocirun stay."""
        if not self.owned:
            return
        deadline = time.monotonic() + timeout
        for directory in self.directories():
            while True:
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    # processes still exiting: make sure they are going, then retry
                    self.signal_all(SIGKILL)
                    time.sleep(0.01)
        if self.created_from:
            self._remove_created_parents()

    def _remove_created_parents(self):
        """The parents create() made for this path, deepest first, where empty:
        another container may live there now, and then it stays."""
        parents = []
        path = os.path.dirname(self.path.rstrip("/"))
        while path.startswith(self.created_from) and path != "/":
            parents.append(path)
            path = os.path.dirname(path)
        for mount in self.mounts.values():
            for parent in parents:
                try:
                    os.rmdir(os.path.join(mount, parent.lstrip("/")))
                except OSError:
                    break  # busy (another cgroup is in it) or gone: leave the rest


def _inherit_cpuset(directory):
    """A new v1 cpuset cgroup starts empty, and no task can join it until it has cpus and mems."""
    parent = os.path.dirname(directory)
    for name in ("cpuset.cpus", "cpuset.mems"):
        with open(os.path.join(directory, name)) as f:
            if f.read().strip():
                continue
        with open(os.path.join(parent, name)) as f:
            value = f.read().strip()
        with open(os.path.join(directory, name), "w") as f:
            f.write(value)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _read(path):
    with open(path) as f:
        return f.read().strip()
