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
from ocirun.linux import inroot
from ocirun.linux.mountfd import attach, new_filesystem, remount_bind
from ocirun.linux.mountopts import BIND_REMOUNT_FLAGS


def mount(target, fs_type, options, cgroup, in_namespace, what):
    """Mount onto `target` (an fd of the mount point) the cgroups of `cgroup`
    (a cgroups.Manager); returns an fd of the mount made there."""
    if fs_type == "cgroup2" or cgroup.unified_only:
        return _mount_unified(target, options, cgroup, in_namespace, what)
    return _mount_v1_layout(target, options, cgroup, in_namespace, what)


def _mount_unified(target, options, cgroup, in_namespace, what):
    if "unified" not in cgroup.mounts:
        raise _sys.SyscallError(errno.ENODEV, "this host mounts no cgroup v2 hierarchy", what)
    if in_namespace:
        try:
            tree = new_filesystem("cgroup2", "cgroup2", options.flags, options.data, what)
        except OSError as e:
            # e.g. a cgroup namespace joined by path whose owner forbids it: bind instead, as runc does
            if e.errno not in (errno.EPERM, errno.EBUSY):
                raise
        else:
            return attach(tree, target, what)
    return _bind_own_directory(cgroup.mounts["unified"], cgroup.path, target, options.flags, what)


def _mount_v1_layout(target, options, cgroup, in_namespace, what):
    flags = options.flags
    layout = attach(new_filesystem("tmpfs", "tmpfs", flags & ~_sys.MS_RDONLY, "mode=755", what + " (tmpfs)"),
                     target, what + " (tmpfs)")
    try:
        for name, host_mount in cgroup.mounts.items():
            directory = name.replace("name=", "")
            where = f"{what} ({directory})"
            os.mkdir(directory, 0o755, dir_fd=layout)
            point = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=layout)
            try:
                if not in_namespace:
                    hierarchy = _bind_own_directory(host_mount, cgroup.path, point, flags, where)
                elif name == "unified":
                    hierarchy = attach(new_filesystem("cgroup2", "cgroup2", flags, None, where), point, where)
                else:
                    hierarchy = attach(new_filesystem("cgroup", "cgroup", flags, name, where), point, where)
                os.close(hierarchy)
            finally:
                os.close(point)
            controllers = name.split(",")
            if len(controllers) > 1:
                for controller in controllers:
                    os.symlink(directory, controller, dir_fd=layout)
        if flags & _sys.MS_RDONLY:
            _sys.mount(None, inroot.fd_path(layout), None, _sys.MS_REMOUNT | flags, "mode=755",
                       what + " (remount tmpfs)")
    except BaseException:
        os.close(layout)
        raise
    return layout


def _bind_own_directory(host_mount, path, point, flags, what):
    source = os.path.join(host_mount, path.lstrip("/"))
    tree = attach(_sys.open_tree(source, _sys.OPEN_TREE_CLONE | _sys.OPEN_TREE_CLOEXEC, what=what),
                   point, what)
    try:
        if flags & BIND_REMOUNT_FLAGS:
            remount_bind(tree, flags & BIND_REMOUNT_FLAGS, 0, what)
    except BaseException:
        os.close(tree)
        raise
    return tree
