"""The cgroup Manager protocol and what its drivers share (see __init__.py
for the factory, v1.py, v2.py and systemd.py for the drivers)."""
import errno
import os
import time
from _signal import SIGKILL

from ocirun.errors import ConfigError, OcirunError

DEFAULT_PARENT = "/ocirun"

# Kernel memory limits are gone from recent kernels (the files stay, writes
# fail): config-linux.md calls them NOT RECOMMENDED, so they are a warning.
BEST_EFFORT = ("memory.kernel", "memory.kernelTCP")


class Manager:
    """One container's cgroup: `path` in each hierarchy of `mounts` (name ->
    mount point).  The protocol every driver implements (CgroupfsV1,
    CgroupfsV2, and systemd's on either, systemd.py; none.py's NoCgroup):
    check_resources, check_free, create, join, apply_resources,
    apply_device_rules, freeze, thaw, frozen, stats, oom_watch, pids,
    signal_all, destroy.  `driver` and `path`, with the
    mounts, are what the container's state records (state_fields), so that
    later verbs rebuild the same manager (from_state) without looking again."""

    driver = "cgroupfs"
    unified_only = False  # a cgroup v2 host
    places_stage_a = False  # the systemd driver's: see systemd.SystemdDriver
    unit = slice = None  # the systemd driver's unit and slice

    def __init__(self, path, mounts, owned=True, created_from=None, shared=False, rootless=False):
        self.path = path
        # made by an unprivileged caller in a subtree delegated to it: device
        # rules (a cgroup v2 eBPF program, v1's devices files) are beyond it,
        # and skipped as runc skips them; the user namespace limits devices
        self.rootless = rootless
        self.mounts = mounts
        # create found processes of something else in it (runc 1.1 goes on,
        # and so does ocirun): delete then leaves it, and them, alone
        self.shared = shared
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
                "cgroup_created_from": self.created_from, "cgroup_shared": self.shared or None,
                "cgroup_rootless": self.rootless or None}

    def directories(self):
        return [os.path.join(mount, self.path.lstrip("/")) for mount in self.mounts.values()]

    def check_resources(self, resources, where="config.json: linux.resources"):
        """Before anything is made: whether this cgroup can take `resources`
        at all (every driver that makes a cgroup can; none.NoCgroup cannot)."""

    def check_free(self, warn):
        """A cgroup that already holds processes belongs to something else too:
        as runc 1.1 does, say so and go on, but never kill in it or remove it.
        A frozen one would hold the container's init frozen: refused."""
        if self.frozen():
            raise OcirunError(f"container's cgroup unexpectedly frozen: {self.path} (thaw it, or remove it)")
        busy = self.pids()
        if busy:
            self.shared = True
            # runc's words, which scripts match
            warn(f"container's cgroup is not empty: {len(busy)} processes in {self.path}; the container shares it")

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
            is_cpuset = "cpuset" in name.split(",")
            if not is_cpuset and self._make_leaf_alone(mount):
                continue
            directory = mount
            for depth, part in enumerate(parts):
                directory = os.path.join(directory, part)
                try:
                    os.mkdir(directory, 0o755)
                    shallowest = min(shallowest, depth)
                except FileExistsError:
                    pass
                if is_cpuset:
                    # a parent made by someone else may have none either
                    _inherit_cpuset(directory)
        return shallowest

    def _make_leaf_alone(self, mount):
        """The common case in one mkdir: the parents exist (/ocirun, made by an
        earlier container) and the leaf does not.  False when that is not so,
        and nothing was made: the caller then goes level by level."""
        try:
            os.mkdir(os.path.join(mount, self.path.lstrip("/")), 0o755)
            return True
        except (FileNotFoundError, FileExistsError):
            return False

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
        fields = [field for *_, field in planned]
        retry = []
        for controller, names, value, field in planned:
            # A shorter CFS period is refused (EINVAL) while the old quota
            # over it exceeds the parent's limit: runc then sets the quota
            # first and the period again after it.
            period_before_quota = field == "cpu.period" and "cpu.quota" in fields
            if self._write_one(controller, names, value, f"{where}.{field}", field, warn,
                               einval_ok=period_before_quota) is False:
                retry.append((controller, names, value, field))
        for controller, names, value, field in retry:
            self._write_one(controller, names, value, f"{where}.{field}", field, warn)

    def _write_one(self, controller, names, value, field_name, field, warn, einval_ok=False):
        """Write one value; False when it failed with EINVAL and einval_ok."""
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
            if einval_ok and e.errno == errno.EINVAL:
                return False
            message = f"{field_name}: write {value} to {names.split('|')[0]}: {e.strerror}"
            if field in BEST_EFFORT:
                warn(f"{message}; ignored, as the kernel no longer limits kernel memory")
                return
            raise OcirunError(message) from None
        if field in BEST_EFFORT and value != -1 and _read(path) != str(value):
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

    def join(self, pid, within=()):
        """Move pid into the cgroup, in every hierarchy; within: sub-cgroups
        to join instead, as sub_cgroups() gives them (exec --cgroup)."""
        subs = dict(within)
        default = subs.pop("*", "")
        for name, mount in self.mounts.items():
            directory = os.path.join(mount, self.path.lstrip("/"), subs.get(name, default)).rstrip("/")
            path = os.path.join(directory, "cgroup.procs")
            try:
                # os.open, not open(): no buffer or text layer for one small
                # write, on a path taken eleven times per create on v1
                fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, b"%d" % pid)
                finally:
                    os.close(fd)
            except OSError as e:
                if within:  # runc's words, which scripts match
                    raise OcirunError(f"adding pid {pid} to cgroups: open {path}: "
                                      f"{e.strerror[0].lower()}{e.strerror[1:]}") from None
                raise OcirunError(f"move process {pid} into cgroup {directory}: {e.strerror}") from None

    def sub_cgroups(self, specs):
        """exec --cgroup's values, PATH or (v1) CONTROLLER[,CONTROLLER]:PATH,
        each a path below the container's cgroup, as ((hierarchy, path), ...);
        hierarchy "*" for every one not named."""
        within = {}
        for spec in specs:
            controllers, _, path = spec.rpartition(":")
            cleaned = os.path.normpath(path or "/").lstrip("/")
            if cleaned == ".." or cleaned.startswith("../"):
                raise OcirunError(f"exec --cgroup: {path} is not a sub cgroup path")
            cleaned = "" if cleaned == "." else cleaned
            if not controllers:
                within["*"] = cleaned
                continue
            for controller in controllers.split(","):
                hierarchy = next((name for name in self.mounts
                                  if name != "unified" and controller in name.split(",")), None)
                if hierarchy is None:
                    raise OcirunError(f"exec --cgroup {spec}: unknown controller {controller!r}"
                                      + (" (cgroup v2 has one hierarchy: give a path alone)"
                                         if list(self.mounts) == ["unified"] else ""))
                within[hierarchy] = cleaned
        return tuple(sorted(within.items()))

    def pids(self):
        """Every process in the container's cgroup and its sub-cgroups (exec
        --cgroup, or made by the container) of the first hierarchy that has it."""
        for directory in self.directories():
            if not os.path.isdir(directory):
                continue
            pids = []
            for subdirectory, _, _ in os.walk(directory):
                try:
                    with open(os.path.join(subdirectory, "cgroup.procs")) as f:
                        pids += [int(line) for line in f if line.strip()]
                except FileNotFoundError:
                    continue  # removed meanwhile
            return pids
        return []

    def signal_all(self, signum):
        for pid in self.pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def destroy(self, timeout=5.0):
        """Remove the container's cgroup, sub-cgroups included, from every
        hierarchy: shared parents such as /ocirun stay."""
        if not self.owned:
            return
        if self.shared:  # what is empty goes; where others' processes are, they and it stay
            for directory in self.directories():
                try:
                    os.rmdir(directory)
                except OSError:
                    pass
            return
        deadline = time.monotonic() + timeout
        for directory in self.directories():
            try:  # the usual case in one call: empty, with no sub-cgroups
                os.rmdir(directory)
                continue
            except FileNotFoundError:
                continue
            except OSError:
                pass
            # sub-cgroups first, deepest first: rmdir takes only an empty cgroup
            levels = [sub for sub, _, _ in os.walk(directory, topdown=False)] or [directory]
            for level in levels:
                self._remove_when_empty(level, deadline)
        if self.created_from:
            self._remove_created_parents()

    def _remove_when_empty(self, directory, deadline):
        while True:
            try:
                os.rmdir(directory)
                return
            except FileNotFoundError:
                return
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                # processes still exiting: make sure they are going, then retry
                self.signal_all(SIGKILL)
                time.sleep(0.01)

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
