"""Mounts made and attached through file descriptors: a bind is a detached
copy of its source (open_tree), a new filesystem a detached mount (fsopen,
fsconfig, fsmount), and either is attached with move_mount onto an fd of
its destination (inroot.py), so that no path is resolved twice."""
import errno
import os

from ocirun import _sys
from ocirun.linux import inroot, kernel

# statvfs f_flag bits that the kernel locks in a user namespace and that a
# remount must therefore repeat (they equal the MS_ values)
LOCKED_FLAGS = _sys.MS_RDONLY | _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC


# mount flags that are superblock options of a new filesystem, and their names for fsconfig(2)
_SUPERBLOCK_FLAGS = ((_sys.MS_RDONLY, "ro"), (_sys.MS_SYNCHRONOUS, "sync"), (_sys.MS_DIRSYNC, "dirsync"),
                     (_sys.MS_LAZYTIME, "lazytime"))
# mount flags -> attributes of the mount itself (fsmount(2), mount_setattr(2))
_MOUNT_ATTR_OF_FLAG = ((_sys.MS_RDONLY, _sys.MOUNT_ATTR_RDONLY), (_sys.MS_NOSUID, _sys.MOUNT_ATTR_NOSUID),
                       (_sys.MS_NODEV, _sys.MOUNT_ATTR_NODEV), (_sys.MS_NOEXEC, _sys.MOUNT_ATTR_NOEXEC),
                       (_sys.MS_NODIRATIME, _sys.MOUNT_ATTR_NODIRATIME),
                       (_sys.MS_NOSYMFOLLOW, _sys.MOUNT_ATTR_NOSYMFOLLOW),
                       (_sys.MS_NOATIME, _sys.MOUNT_ATTR_NOATIME),
                       (_sys.MS_STRICTATIME, _sys.MOUNT_ATTR_STRICTATIME))


def new_filesystem(fs_type, source, flags, data, what):
    """A new filesystem, as a detached mount (fsopen, fsconfig, fsmount): it
    can be filled and set up before anything in the container can see it.
    `data` is mount(2)'s option string."""
    k = kernel.current
    fs = k.fsopen(fs_type, what)
    try:
        if source:
            k.fsconfig(fs, _sys.FSCONFIG_SET_STRING, "source", source, what=what)
        for option in data.split(",") if data else ():
            key, has_value, value = option.partition("=")
            if has_value:
                k.fsconfig(fs, _sys.FSCONFIG_SET_STRING, key, value, what=f"{what}: option {option}")
            else:
                k.fsconfig(fs, _sys.FSCONFIG_SET_FLAG, key, what=f"{what}: option {option}")
        for flag, name in _SUPERBLOCK_FLAGS:
            if flags & flag:
                k.fsconfig(fs, _sys.FSCONFIG_SET_FLAG, name, what=f"{what}: option {name}")
        k.fsconfig(fs, _sys.FSCONFIG_CMD_CREATE, what=what)
        attributes = 0
        for flag, attribute in _MOUNT_ATTR_OF_FLAG:
            if flags & flag:
                attributes |= attribute
        return k.fsmount(fs, attributes, what)
    finally:
        os.close(fs)


def attach(tree, target, what):
    """move_mount the detached `tree` onto `target`; returns tree, which now
    refers to the attached mount (it is closed if the move fails)."""
    try:
        kernel.current.move_mount(tree, target, what)
    except BaseException:
        os.close(tree)
        raise
    return tree


def remount_bind(mount_fd, flags, cleared=0, what=None):
    """Remount the bind mount open at mount_fd (attached) with `flags`,
    keeping the flags the kernel locks."""
    locked = kernel.current.statvfs_flags(mount_fd) & LOCKED_FLAGS & ~cleared
    kernel.current.mount(None, inroot.fd_path(mount_fd), None, _sys.MS_BIND | _sys.MS_REMOUNT | flags | locked,
                         None, (what or "remount") + " (remount)")


def open_bind_source(mount, options, bundle):
    """A detached copy of a bind mount's source; a relative source is the bundle's."""
    source = mount.source
    source = os.path.join(bundle, source) if source and not source.startswith("/") else source
    recursive = _sys.AT_RECURSIVE if options.flags & _sys.MS_REC else 0
    try:
        return kernel.current.open_tree(source, _sys.OPEN_TREE_CLONE | _sys.OPEN_TREE_CLOEXEC | recursive,
                              what=f"mount source {source}")
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.EACCES, errno.ENOTDIR, errno.ELOOP):
            raise _sys.SyscallError(e.errno, e.strerror, f"mount source {source}") from None
        raise


def open_source_in_parent(mount, options, bundle, root_propagation):
    """The parent's copy of a bind source, for the init to attach: made in the
    runtime's namespaces, where the init could not
    (an id mapping; ocirun's own directory, which a user namespace's root
    cannot enter).  The copy is given the propagation the init's own binds
    get under `root_propagation`, so that mounts inside the container never
    propagate to the host's peer of the source."""
    tree = open_bind_source(mount, options, bundle)
    propagation = root_propagation or "rslave"
    if "shared" not in propagation:
        recursive = _sys.AT_RECURSIVE if options.flags & _sys.MS_REC else 0
        try:
            kernel.current.mount_setattr("", _sys.AT_EMPTY_PATH | recursive, dfd=tree,
                                         propagation=_sys.MS_SLAVE if "slave" in propagation else _sys.MS_PRIVATE,
                                         what=f"set propagation of {mount.destination}")
        except BaseException:
            os.close(tree)
            raise
    return tree
