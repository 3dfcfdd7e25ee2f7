"""A container's cgroup: its own in every hierarchy this host mounts (v1
controllers, the v1 name= hierarchies, the unified one), so that its
processes can be listed, limited, frozen, signalled and cleaned up as a whole.

This module finds the hierarchies and is the factory: for_container picks the
driver for a new container (cgroupfs v1 or v2 after the host's layout, or
systemd's over it), from_state rebuilds the one a container's state recorded.
The Manager protocol is in base.py; the drivers in v1.py, v2.py, systemd.py.
"""
import os

from ocirun.cgroups.base import DEFAULT_PARENT, Manager, is_unified_only  # noqa: F401 (the package's names)

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
    takes milliseconds to run.  Idempotent.

    Worth it: `run` of /bin/true took 38.8 ms with it and 44.3 ms without
    (medians of 60 alternating runs, at ocirun's architecture commits).
    Safe to fork beside it: the thread holds no lock of ours or of the
    interpreter's while the kernel makes it wait (os.write releases the GIL,
    and os.fork runs with the GIL held, so the thread is never between two
    Python bytecodes then); the children are single-threaded copies that
    never run it, and stage A closes their copy of its fd (hygiene.py).  Its
    fd to a host cgroup.procs never takes a number of the --preserve-fds
    range (3 to 3+reserved_fds-1): the container's init keeps those.
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


def for_container(cgroups_path, container_id, systemd=False, rootless=False):
    """The driver for a new container, on this host's hierarchies: the factory
    create uses (not owned until create() makes it).  Rootless, where the
    caller cannot make the cgroup, none (none.NoCgroup), as runc."""
    mounts = mounted_hierarchies()
    if rootless and not systemd:
        manager = _cgroupfs_class(mounts)(container_cgroup_path(cgroups_path, container_id), mounts, owned=False,
                                          rootless=os.geteuid() != 0)
        reason = _why_not_creatable(manager)
        if reason:
            from ocirun.cgroups.none import NoCgroup
            return NoCgroup(reason)
        return manager
    if systemd:
        from ocirun.cgroups.systemd import driver_for, unit_and_slice
        unit, slice_name = unit_and_slice(cgroups_path, container_id, rootless)
        return driver_for(_cgroupfs_class(mounts), unit, slice_name, mounts, rootless=rootless)
    return _cgroupfs_class(mounts)(container_cgroup_path(cgroups_path, container_id), mounts, owned=False)


def _why_not_creatable(manager):
    """None when this (rootless) process may make the manager's cgroup in
    every hierarchy: the nearest existing directory is writable to it, as in
    a cgroup v2 subtree delegated to the user; else why not."""
    for directory in manager.directories():
        existing = directory
        while not os.path.isdir(existing):
            existing = os.path.dirname(existing)
        if not os.access(existing, os.W_OK):
            version = "cgroup v2" if manager.unified_only else "cgroup v1"
            return (f"rootless: {existing} is not writable to uid {os.geteuid()} ({version}: "
                    f"{'no subtree delegated to this user' if manager.unified_only else 'no delegation for users'})")
    return None


def from_state(fields, init_pid=None):
    """The driver a container's state recorded (Manager.state_fields), owned:
    the same path and hierarchies create used, without reading them again."""
    if fields.get("cgroup_driver") == "none":
        from ocirun.cgroups.none import NoCgroup
        return NoCgroup(fields.get("cgroup_path"), init_pid)
    mounts = fields.get("cgroup_mounts")
    if not mounts:
        return _cgroupfs_class({})("/nonexistent-cgroup", {}, owned=False)
    if fields.get("cgroup_driver") == "systemd":
        from ocirun.cgroups.systemd import driver_for
        unit, slice_name = fields["cgroup_unit"]
        return driver_for(_cgroupfs_class(mounts), unit, slice_name, mounts, owned=True,
                          rootless=bool(fields.get("cgroup_rootless")), path=fields["cgroup_path"])
    return _cgroupfs_class(mounts)(fields["cgroup_path"], mounts, created_from=fields.get("cgroup_created_from"),
                                   shared=bool(fields.get("cgroup_shared")),
                                   rootless=bool(fields.get("cgroup_rootless")))


def _cgroupfs_class(mounts):
    if is_unified_only(mounts):
        from ocirun.cgroups.v2 import CgroupfsV2
        return CgroupfsV2
    from ocirun.cgroups.v1 import CgroupfsV1
    return CgroupfsV1


