"""Entering namespaces: new ones by unshare(2), existing ones by setns(2),
and the files that configure a new user or time namespace."""
import os

from ocirun import _sys
from ocirun.linux import procfs

CLONE_FLAGS = {
    "pid": _sys.CLONE_NEWPID, "network": _sys.CLONE_NEWNET, "mount": _sys.CLONE_NEWNS,
    "ipc": _sys.CLONE_NEWIPC, "uts": _sys.CLONE_NEWUTS, "user": _sys.CLONE_NEWUSER,
    "cgroup": _sys.CLONE_NEWCGROUP, "time": _sys.CLONE_NEWTIME,
}

# time namespace clocks in config.json -> names in /proc/<pid>/timens_offsets
_TIME_CLOCKS = {"monotonic": "monotonic", "boottime": "boottime"}


def join(ns_type, path):
    """setns(2) into the namespace at `path`, checking it is of `ns_type`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"open {ns_type} namespace {path}") from None
    try:
        _sys.setns(fd, CLONE_FLAGS[ns_type], f"{ns_type} namespace {path}")
    finally:
        os.close(fd)


def unshare(ns_types):
    """Create new namespaces of every type in `ns_types` with one unshare(2)."""
    flags = 0
    for ns_type in ns_types:
        flags |= CLONE_FLAGS[ns_type]
    if flags:
        _sys.unshare(flags)


def new_pid_namespace_for_next_child():
    """unshare(CLONE_NEWPID) in this thread: the next process it forks is pid 1
    of a new pid namespace, while this process stays in its own.  Returns an
    fd of the namespace its children went into before, for
    restore_pid_namespace_for_children, which must follow the fork at once."""
    fd = os.open("/proc/thread-self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _sys.unshare(_sys.CLONE_NEWPID)
    except BaseException:
        os.close(fd)
        raise
    return fd


def restore_pid_namespace_for_children(fd):
    try:
        _sys.setns(fd, _sys.CLONE_NEWPID, "the runtime's own pid namespace, for its next children")
    finally:
        os.close(fd)


def write_id_maps(pid, uid_mappings, gid_mappings):
    """Parent side: write the uid and gid maps of the user namespace `pid` just created."""
    for name, mappings in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)
        path = f"/proc/{pid}/{name}"
        try:
            with open(path, "w") as f:
                f.write(text)
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"write {path} ({text.strip()!r})") from None


def deny_setgroups(pid):
    """The kernel's condition for an unprivileged gid map: setgroups(2)
    denied in that user namespace for good (user_namespaces(7))."""
    path = f"/proc/{pid}/setgroups"
    try:
        with open(path, "w") as f:
            f.write("deny")
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"write {path}") from None


def write_time_offsets(offsets):
    """Set the clock offsets of the time namespace this process just unshared;
    they apply to its children, and only before the first one is made."""
    lines = "".join(f"{_TIME_CLOCKS.get(clock, clock)} {secs} {nanosecs}\n"
                    for clock, (secs, nanosecs) in offsets.items())
    procfs.write("self/timens_offsets", lines, "write /proc/self/timens_offsets")


def maps_root(mappings):
    """Whether container id 0 is mapped: only then can the init become root in its namespace."""
    return any(m.container_id == 0 for m in mappings)
