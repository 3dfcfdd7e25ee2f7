"""Mounts made and attached through file descriptors: a bind is a detached
copy of its source (open_tree), a new filesystem a detached mount (fsopen,
fsconfig, fsmount), and either is attached with move_mount onto an fd of
its destination (inroot.py), so that no path is resolved twice."""
import errno
import os
import sys

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


def clone_in_mount_namespace_of(pid, sources):
    """{index: fd of a detached copy of the source} for each (index, path,
    recursive, idmap) in `sources` (idmap: None, or (user namespace fd,
    recursive) to id-map the copy with), made as host root inside pid's
    mount namespace by a short-lived child of ours (setns would move our
    own root and cwd).  There the copy comes from the namespace's own
    mounts, and keeps the flags the kernel locked when it was made for a
    user namespace: a copy made in ours could be remounted read-write by
    the container's root.  And host root reaches a source under a
    directory the container's root may not enter."""
    import _socket
    from ocirun.process.channel import fd_rights
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    child = os.fork()
    if child == 0:
        try:
            ours.close()
            _clone_sources_in(pid, sources, theirs, fd_rights)
        finally:
            os._exit(0)
    theirs.close()
    trees = {}
    try:
        for index, path, _, _ in sources:
            data, ancillary, _, _ = ours.recvmsg(64, _socket.CMSG_SPACE(4))
            if not data:
                raise OSError(errno.ESRCH, f"the process cloning mount sources for {pid} failed")
            got_index, error = map(int, data.split())
            for _, _, payload in ancillary:
                trees[got_index] = int.from_bytes(payload[:4], sys.byteorder)
            if error:
                what = f"enter the mount namespace of {pid}" if got_index < 0 else f"mount source {path}"
                raise _sys.SyscallError(error, os.strerror(error), what)
    except BaseException:
        for fd in trees.values():
            os.close(fd)
        raise
    finally:
        ours.close()
        os.waitpid(child, 0)
    return trees


def _clone_sources_in(pid, sources, sock, fd_rights):
    """clone_in_mount_namespace_of's child: "INDEX ERRNO" per source, with the copy's fd when 0."""
    try:
        namespace = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        _sys.setns(namespace, _sys.CLONE_NEWNS, f"mount namespace of {pid}")
    except OSError as e:
        sock.send(f"-1 {e.errno}".encode())
        return
    for index, path, recursive, idmap in sources:
        try:
            tree = _sys.open_tree(path, _sys.OPEN_TREE_CLONE | _sys.OPEN_TREE_CLOEXEC
                                  | (_sys.AT_RECURSIVE if recursive else 0), what=path)
            if idmap:
                userns, idmap_recursive = idmap
                _sys.mount_setattr("", _sys.AT_EMPTY_PATH | (_sys.AT_RECURSIVE if idmap_recursive else 0),
                                   attr_set=_sys.MOUNT_ATTR_IDMAP, userns_fd=userns, dfd=tree, what=path)
        except OSError as e:
            sock.send(f"{index} {e.errno}".encode())
            return
        sock.sendmsg([f"{index} 0".encode()], fd_rights(tree))
        os.close(tree)


def open_source_in_parent(mount, options, bundle, root_propagation):
    """The parent's copy of a bind source, for the init to attach: made in the
    runtime's namespaces, where the init could not (an id mapping).  The copy is given the propagation the init's own binds
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
