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
    """One container's cgroup: `path` in each hierarchy of `mounts` (name ->
    mount point).  The protocol every driver implements (CgroupfsV1,
    CgroupfsV2, and systemd's on either, systemd.py): check_free, create,
    join, apply_resources, apply_device_rules, freeze, thaw, stats,
    oom_watch, pids, signal_all, destroy.  `driver` and `path`, with the
    mounts, are what the container's state records (state_fields), so that
    later verbs rebuild the same manager (from_state) without looking again."""

    driver = "cgroupfs"
    unified_only = False  # a cgroup v2 host
    places_stage_a = False  # the systemd driver's: see systemd.SystemdDriver
    unit = slice = None  # the systemd driver's unit and slice

    def __init__(self, path, mounts, owned=True, created_from=None):
        self.path = path
        self.mounts = mounts
        # destroy() removes and kills only a cgroup this container made (or,
        # loaded from its state, is known to own)
        self.owned = owned
        # the shallowest parent of path that create() made, which destroy()
        # removes again when nothing else lives there (None: only the leaf)
        self.created_from = created_from

    def state_fields(self):
        """What the container's state records of its cgroup (from_state reads it)."""
        return {"cgroup_driver": self.driver, "cgroup_path": self.path, "cgroup_mounts": dict(self.mounts),
                "cgroup_unit": [self.unit, self.slice] if self.unit else None,
                "cgroup_created_from": self.created_from}

    def directories(self):
        return [os.path.join(mount, self.path.lstrip("/")) for mount in self.mounts.values()]

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

    def apply_resources(self, resources, warn, updating=False, where="config.json: linux.resources"):
        """linux.resources (but devices) on this host's controllers; warn(text)
        for what the spec lets a runtime skip.  updating: the cgroup has limits
        already, which decide the order of some v1 writes."""
        try:
            planned = self.planned_writes(resources, updating)
        except ConfigError as e:
            raise OcirunError(str(e).replace("linux.resources", where, 1)) from None
        if updating and resources.memory and resources.memory.check_before_update:
            self._check_memory_usage(resources.memory.limit, where)
        self.prepare_writes(planned, bool(resources.unified))
        for controller, names, value, field in planned:
            self._write_one(controller, names, value, f"{where}.{field}", field, warn)

    def _write_one(self, controller, names, value, field_name, field, warn):
        from ocirun.cgroups import v1
        if names is None:
            warn(f"{field_name}: ignored, as the kernel no longer limits kernel memory")
            return
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
                return
            raise OcirunError(message) from None
        if field in v1.BEST_EFFORT and value != -1 and _read(path) != str(value):
            # 6.x kernels take a kmem limit and keep it unlimited
            warn(f"{field_name}: ignored, as the kernel no longer limits kernel memory")

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
        usage = int(_read(os.path.join(self.directory("memory"), self.MEMORY_USAGE)))
        if new_limit < usage:
            raise OcirunError(f"{where}.memory.limit: {new_limit} is below the container's current "
                              f"memory usage {usage} (checkBeforeUpdate)")

    def _wait_frozen(self, done, undo, timeout):
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                undo()
                raise OcirunError(f"cgroup {self.path}: not frozen within {timeout:g}s")
            time.sleep(0.001)

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


def is_unified_only(mounts):
    """A cgroup v2 host: no v1 controller hierarchy (a hybrid host counts as v1, as for runc)."""
    return not any(name != "unified" and not name.startswith("name=") for name in mounts)


def for_container(cgroups_path, container_id, systemd=False):
    """The driver for a new container, on this host's hierarchies: the factory
    create uses (not owned until create() makes it)."""
    mounts = mounted_hierarchies()
    if systemd:
        from ocirun.cgroups.systemd import driver_for, unit_and_slice
        unit, slice_name = unit_and_slice(cgroups_path, container_id)
        return driver_for(unit, slice_name, mounts)
    return _cgroupfs_class(mounts)(container_cgroup_path(cgroups_path, container_id), mounts, owned=False)


def from_state(fields):
    """The driver a container's state recorded (Manager.state_fields), owned:
    the same path and hierarchies create used, without reading them again."""
    mounts = fields.get("cgroup_mounts")
    if not mounts:
        return _cgroupfs_class({})("/nonexistent-cgroup", {}, owned=False)
    if fields.get("cgroup_driver") == "systemd":
        from ocirun.cgroups.systemd import driver_for
        unit, slice_name = fields["cgroup_unit"]
        manager = driver_for(unit, slice_name, mounts)
        manager.owned = True
        return manager
    return _cgroupfs_class(mounts)(fields["cgroup_path"], mounts, created_from=fields.get("cgroup_created_from"))


def _cgroupfs_class(mounts):
    if is_unified_only(mounts):
        from ocirun.cgroups.v2 import CgroupfsV2
        return CgroupfsV2
    from ocirun.cgroups.v1 import CgroupfsV1
    return CgroupfsV1


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
