"""A mount of type cgroup or cgroup2 in the container: its own cgroups, laid
out as runc lays them out.

- cgroup v1 (a mount of type cgroup on a v1 host): a tmpfs at the
  destination with a directory per hierarchy of the host ("cpu,cpuacct",
  "memory", "systemd", and "unified" on a hybrid host), plus a symlink for
  each controller of a combined hierarchy ("cpu" -> "cpu,cpuacct").
- cgroup v2 (type cgroup on a v2 host, or type cgroup2): the unified
  hierarchy at the destination.

With a cgroup namespace each hierarchy is mounted afresh, and the kernel
shows it from the namespace's root; without one the container's own
directory of each hierarchy is bound there, so a container never sees the
host's other cgroups either way.
"""
import errno
import os

from ocirun import _sys


def mount(target, fs_type, options, cgroup, in_namespace, what):
    """Mount at `target` (made already) the cgroups of `cgroup` (a cgroups.Manager)."""
    if fs_type == "cgroup2" or cgroup.unified_only:
        _mount_unified(target, options, cgroup, in_namespace, what)
    else:
        _mount_v1_layout(target, options, cgroup, in_namespace, what)


def _mount_unified(target, options, cgroup, in_namespace, what):
    if "unified" not in cgroup.mounts:
        raise _sys.SyscallError(errno.ENODEV, "this host mounts no cgroup v2 hierarchy", what)
    if in_namespace:
        try:
            _sys.mount("cgroup2", target, "cgroup2", options.flags, options.data, what)
            return
        except OSError as e:
            # e.g. a cgroup namespace joined by path whose owner forbids it: bind instead, as runc does
            if e.errno not in (errno.EPERM, errno.EBUSY):
                raise
    _bind_own_directory(cgroup.mounts["unified"], cgroup.path, target, options.flags, what)


def _mount_v1_layout(target, options, cgroup, in_namespace, what):
    flags = options.flags
    _sys.mount("tmpfs", target, "tmpfs", flags & ~_sys.MS_RDONLY, "mode=755", what + " (tmpfs)")
    for name, host_mount in cgroup.mounts.items():
        directory = name.replace("name=", "")
        point = os.path.join(target, directory)
        os.mkdir(point, 0o755)
        where = f"{what} ({directory})"
        if not in_namespace:
            _bind_own_directory(host_mount, cgroup.path, point, flags, where)
        elif name == "unified":
            _sys.mount("cgroup2", point, "cgroup2", flags, None, where)
        else:
            _sys.mount("cgroup", point, "cgroup", flags, name, where)
        controllers = name.split(",")
        if len(controllers) > 1:
            for controller in controllers:
                os.symlink(directory, os.path.join(target, controller))
    if flags & _sys.MS_RDONLY:
        _sys.mount(None, target, None, _sys.MS_REMOUNT | flags, "mode=755", what + " (remount tmpfs)")


def _bind_own_directory(host_mount, path, point, flags, what):
    from ocirun.linux.rootfs import BIND_REMOUNT_FLAGS, remount_bind
    source = os.path.join(host_mount, path.lstrip("/"))
    _sys.mount(source, point, None, _sys.MS_BIND, None, what)
    if flags & BIND_REMOUNT_FLAGS:
        remount_bind(point, flags & BIND_REMOUNT_FLAGS, 0, what)
