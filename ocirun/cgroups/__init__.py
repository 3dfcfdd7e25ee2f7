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
# options of a v1 cgroup mount that name no controller (systemd mounts its
# hierarchy "rw,xattr,name=systemd")
_V1_MOUNT_FLAGS = {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "none",
                   "favordynmods"}


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
                names = [o for o in options.split(",") if o not in _V1_MOUNT_FLAGS and "=" not in o
                         or o.startswith("name=")]
                hierarchies.setdefault(",".join(sorted(names)), fields[4])
    return hierarchies


_primed = False


def prime_attach(reserved_fds=0, own_cgroups="/proc/self/cgroup", mountinfo="/proc/self/mountinfo"):
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
    process.  Idempotent.  Its fd to a host cgroup.procs never takes a number
    of the --preserve-fds range (3 to 3+reserved_fds-1): the container's
    init keeps those.
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
    if fd < 3 + reserved_fds:
        import fcntl
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3 + reserved_fds)
        os.close(fd)
        fd = moved
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

    places_stage_a = False  # the systemd driver's: see systemd.SystemdManager
    unit = None  # the systemd driver's unit name

    def __init__(self, path, mounts, owned=True, created_from=None):
        self.path = path
        self.mounts = mounts
        # destroy() removes and kills only a cgroup this container made (or,
        # loaded from its state, is known to own)
        self.owned = owned
        # the shallowest parent of path that create() made, which destroy()
        # removes again when nothing else lives there (None: only the leaf)
        self.created_from = created_from
        self._hybrid = None

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
            if mount is None and controller in self.hybrid_controllers():
                mount = self.mounts["unified"]
        return os.path.join(mount, self.path.lstrip("/")) if mount else None

    def hybrid_controllers(self):
        """On a v1 host, the controllers bound to its unified hierarchy (a
        hybrid layout: hugetlb on this machine), which take v2's files."""
        if self.unified_only or "unified" not in self.mounts:
            return set()
        if self._hybrid is None:
            self._hybrid = set(_read(os.path.join(self.mounts["unified"], "cgroup.controllers")).split())
        return self._hybrid

    def check_free(self):
        """A cgroup that already holds processes belongs to something else, and
        joining it would let delete kill them."""
        busy = self.pids()
        if busy:
            raise OcirunError(f"cgroup {self.path} is not empty: {len(busy)} processes are in it")

    def create(self):
        """Make the cgroup in every hierarchy (check_free first)."""
        parts = self.path.strip("/").split("/")
        shallowest = self.make_directories()
        self.owned = True
        if self.unified_only:
            self.enable_all_controllers()
        if shallowest < len(parts) - 1 and "/" + "/".join(parts[:shallowest + 1]) != DEFAULT_PARENT:
            self.created_from = "/" + "/".join(parts[:shallowest + 1])

    def make_directories(self):
        """mkdir the path, level by level, in every hierarchy (a new cpuset
        level gets its parent's cpus and mems); returns the depth of the
        shallowest level made (the leaf's when all existed)."""
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
        return shallowest

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
                # an update replaces the rules: the new program goes in before
                # the old ones come out, so no device is ever unguarded
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

    @property
    def unified_only(self):
        """A cgroup v2 host: no v1 controller hierarchy (a hybrid host counts as v1, as for runc)."""
        return not any(name != "unified" and not name.startswith("name=") for name in self.mounts)

    def apply_resources(self, resources, warn, updating=False, where="config.json: linux.resources"):
        """linux.resources (but devices) on this host's controllers; warn(text)
        for what the spec lets a runtime skip.  updating: the cgroup has limits
        already, which decide the order of some v1 writes."""
        from ocirun.cgroups import v1, v2
        try:
            if self.unified_only:
                planned = v2.writes(resources)
            else:
                planned = v1.writes(resources, self._current_memory_limit() if updating else None)
                hybrid = self.hybrid_controllers()
                if resources.hugepage_limits and "hugetlb" in hybrid:
                    planned = [w for w in planned if w[0] != "hugetlb"] + \
                        v1.hugetlb_writes(resources.hugepage_limits, "max")
        except ConfigError as e:
            raise OcirunError(str(e).replace("linux.resources", where, 1)) from None
        if updating and resources.memory and resources.memory.check_before_update:
            self._check_memory_usage(resources.memory.limit, where)
        on_unified = {controller for controller, *_ in planned
                      if self.unified_only or controller in self.hybrid_controllers()}
        if on_unified:
            self._enable_controllers(on_unified, unified_keys=bool(resources.unified))
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
            if field in v1.BEST_EFFORT and value != -1 and _read(path) != str(value):
                # 6.x kernels take a kmem limit and keep it unlimited
                warn(f"{field_name}: ignored, as the kernel no longer limits kernel memory")

    def stats(self):
        """runc's stats (cpu, memory, pids, blkio) from the v1 or v2 files."""
        from ocirun.cgroups import stats
        if self.unified_only:
            return stats.collect_v2(self.directory("cpu"))
        return stats.collect(self.directory)

    def oom_watch(self):
        """A watch (oom.py) whose fd turns readable when the kernel's OOM killer
        acts in the container's memory cgroup, or None without a memory controller."""
        from ocirun.cgroups import oom
        directory = self.directory("memory")
        if directory is None:
            return None
        return oom.MemoryEventsWatch(directory) if self.unified_only else oom.EventfdWatch(directory)

    def _enable_controllers(self, controllers, unified_keys=False):
        """cgroup v2: a controller's files appear in a cgroup only once every
        ancestor enables it in cgroup.subtree_control.  unified_keys: some
        names come from linux.resources.unified, whose file prefix need not be
        a controller (irq.pressure): those are only enabled where they exist."""
        mount = self.mounts["unified"]
        available = set(_read(os.path.join(mount, "cgroup.controllers")).split())
        controllers.discard(None)
        if unified_keys:
            controllers &= available
        missing = controllers - available
        if missing:
            raise OcirunError(f"config.json: linux.resources: this host's cgroup v2 has no "
                              f"{', '.join(sorted(missing))} controller")
        for directory in self._unified_ancestors():
            control = os.path.join(directory, "cgroup.subtree_control")
            enabled = set(_read(control).split())
            wanted = controllers - enabled
            if wanted:
                try:
                    _write(control, " ".join(f"+{c}" for c in sorted(wanted)))
                except OSError as e:
                    raise OcirunError(f"cgroup {directory}: enable {', '.join(sorted(wanted))}: {e.strerror}") from None

    def enable_all_controllers(self):
        """cgroup v2, at create: every controller the parent has, as runc does,
        so that stats and memory.events exist without limits being set; best
        effort, one by one (a parent with processes of its own refuses)."""
        for directory in self._unified_ancestors():
            available = _read(os.path.join(directory, "cgroup.controllers")).split()
            control = os.path.join(directory, "cgroup.subtree_control")
            for controller in set(available) - set(_read(control).split()):
                try:
                    _write(control, f"+{controller}")
                except OSError:
                    pass

    def _unified_ancestors(self):
        """The unified hierarchy's root, then each parent of the container's cgroup there."""
        directory = self.mounts["unified"]
        yield directory
        for part in self.path.strip("/").split("/")[:-1]:
            directory = os.path.join(directory, part)
            yield directory

    def _check_memory_usage(self, new_limit, where):
        """memory.checkBeforeUpdate: refuse a limit below what the container uses now."""
        if new_limit is None or new_limit < 0:
            return
        directory = self.directory("memory")
        name = "memory.current" if self.unified_only else "memory.usage_in_bytes"
        usage = int(_read(os.path.join(directory, name)))
        if new_limit < usage:
            raise OcirunError(f"{where}.memory.limit: {new_limit} is below the container's current "
                              f"memory usage {usage} (checkBeforeUpdate)")

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
