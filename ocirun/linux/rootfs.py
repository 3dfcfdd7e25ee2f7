"""The container's root filesystem: propagation, config.json mounts,
pivot_root, masked and readonly paths, a readonly root."""
import errno
import os
import stat

from ocirun import _sys
from ocirun.config import PROC_MOUNT_ALLOWED
from ocirun.linux import inroot, kernel
from ocirun.linux.mountfd import LOCKED_FLAGS, attach, new_filesystem, open_bind_source, remount_bind
from ocirun.linux.mountopts import BIND_REMOUNT_FLAGS, PROPAGATION

_MAX_SYMLINKS = 40


def resolve_in_root(root, path):
    """The host path of `path` as seen from a process whose root is `root`.

    Symlinks are followed as the container would follow them: an absolute
    target starts again at `root`, and `..` never climbs above it, so a link
    planted in the image cannot lead outside the rootfs.  Missing components
    are kept as they are (they will be created inside `root`).
    """
    parts = [p for p in path.split("/") if p]
    resolved = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except FileNotFoundError:
            is_link = False
        if not is_link:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return os.path.join(root, *resolved)


def prepare_root(rootfs, propagation):
    """Stop our mounts from reaching the host, then make the rootfs a mount point
    of its own so pivot_root can move it."""
    root_flags = PROPAGATION[propagation] if propagation else _sys.MS_SLAVE | _sys.MS_REC
    _sys.mount(None, "/", None, root_flags, what="make / " + (propagation or "rslave"))
    if root_flags & (_sys.MS_SHARED | _sys.MS_UNBINDABLE):
        # pivot_root refuses a new root whose parent mount is shared, and the
        # rootfs cannot be bound from an unbindable one: make that parent
        # private; the requested propagation is applied to the new / after
        # the pivot
        parent = _mount_point_of(rootfs)
        _sys.mount(None, parent, None, _sys.MS_PRIVATE, what=f"make {parent} private")
    _sys.mount(rootfs, rootfs, None, _sys.MS_BIND | _sys.MS_REC, what=f"bind rootfs {rootfs}")


def _mount_table(mountinfo="/proc/self/mountinfo"):
    """(root, mount point, fstype) of each mount, in mountinfo's order."""
    with open(mountinfo, "rb") as f:
        for line in f:
            fields = line.split()
            # space, tab, newline and \\ come octal-escaped; the fstype follows "-"
            root, point = (field.decode("unicode_escape").encode("latin-1").decode()
                           for field in fields[3:5])
            yield root, point, fields[fields.index(b"-") + 1].decode()


def _is_under(path, point):
    return path == point or path.startswith(point.rstrip("/") + "/")


def _mount_point_of(path, mountinfo="/proc/self/mountinfo"):
    """The mount point of the mount that holds `path`."""
    best = "/"
    for _, point, _ in _mount_table(mountinfo):
        if _is_under(path, point) and len(point) >= len(best):
            best = point
    return best


def hide_host_proc_and_sys(rootfs, mountinfo="/proc/self/mountinfo"):
    """Before --no-pivot's chroot: take away every whole procfs and sysfs
    mount outside the rootfs.  They stay in the mount namespace under a
    chroot, and the kernel lets a process mount a new proc or sysfs as long
    as one whole, uncovered mount of it exists there: a container with
    CAP_SYS_ADMIN in a user namespace of its own would get a bare /proc
    (runc does the same)."""
    for root, point, fstype in list(_mount_table(mountinfo)):
        if root != "/" or fstype not in ("proc", "sysfs") or _is_under(point, rootfs):
            continue
        try:
            # the unmount must not propagate to the host
            _sys.mount(None, point, None, _sys.MS_SLAVE | _sys.MS_REC, what=f"make {point} rslave")
        except FileNotFoundError:
            continue  # under a mount already detached
        try:
            _sys.umount2(point, _sys.MNT_DETACH)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                raise
            # locked (a user namespace's inherited mount): cover it instead
            _sys.mount("tmpfs", point, "tmpfs", 0, None, what=f"cover {point}")


def mount_all(root_fd, mounts, parsed_options, bundle, made, cgroups, source_trees):
    """Mount each in order; unless `made` is None, append each destination
    once mounted.  cgroups: (the container's cgroups.Manager, whether it has
    a cgroup namespace), for mounts of type cgroup and cgroup2.
    source_trees: {index: the source the parent opened}, taken from here.
    Returns the read-only tmpfs mounts, made writable for now: what is
    mounted, made or copied inside them comes first, as with runc (a
    read-only /dev gets its submounts and device nodes); make_readonly_later
    takes the list when that is done."""
    later = []
    try:
        for index, (mount, options) in enumerate(zip(mounts, parsed_options)):
            mount_one(root_fd, mount, options, bundle, cgroups, source_trees.pop(index, None), later)
            if made is not None:
                made.append(mount.destination)
    except BaseException:
        for fd, *_ in later:
            os.close(fd)
        raise
    return later


def make_readonly_later(later):
    """The read-only tmpfs mounts mount_all left writable, remounted read-only (closes the fds)."""
    try:
        for fd, flags, data, what in later:
            kernel.current.mount(None, inroot.fd_path(fd), None, _sys.MS_REMOUNT | flags, data,
                                 what + " (remount read-only)")
    finally:
        for fd, *_ in later:
            os.close(fd)


def mount_one(root_fd, mount, options, bundle, cgroups, source_tree=None, later=None):
    """One config.json mount, onto its destination opened inside the root:
    the source is cloned (bind) or made (a new filesystem) as a detached
    mount, and attached with move_mount, so no path is resolved twice.
    source_tree: the bind's source, when the parent opened it.  later: where
    a read-only tmpfs goes, made writable for now (mount_all)."""
    what = f"mount {mount.type or 'bind'} {mount.source} on {mount.destination}"
    if options.is_bind and source_tree is None:
        source_tree = open_bind_source(mount, options, bundle)
    try:
        if mount.type in ("proc", "sysfs"):
            _refuse_anything_but_a_directory(root_fd, mount)
        covered_mode = _mode_of_covered_directory(root_fd, mount, options)
        kind = "dir"
        if source_tree is not None and not stat.S_ISDIR(kernel.current.fstat(source_tree).st_mode):
            kind = "file"
        try:
            target = inroot.make_in_root(root_fd, mount.destination, kind)
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"mount point {mount.destination}") from None
        try:
            _refuse_over_procfs(target, mount, source_tree)
            attached = _mount_onto(target, mount, options, source_tree, cgroups, what, covered_mode)
        finally:
            os.close(target)
        source_tree = None  # now `attached`, closed below
        if attached is None:
            return  # a remount: nothing else is set on it
        if _read_only_later(mount, options):
            later.append((os.dup(attached), options.flags, options.data, what))
        try:
            for propagation in options.propagation:
                kernel.current.mount(None, inroot.fd_path(attached), None, propagation,
                                     what=f"set propagation of {mount.destination}")
            if options.recursive_set or options.recursive_clear:
                kernel.current.mount_setattr("", _sys.AT_EMPTY_PATH | _sys.AT_RECURSIVE, options.recursive_set,
                                             options.recursive_clear, dfd=attached,
                                             what=f"set recursive options of {mount.destination}")
        finally:
            os.close(attached)
    finally:
        if source_tree is not None:
            os.close(source_tree)


def _refuse_anything_but_a_directory(root_fd, mount):
    """proc and sysfs go on a directory of the image, never through a symlink
    planted in its place (an image's /proc -> /somewhere would put the
    kernel's files, and the masks meant for them, elsewhere); runc's rule."""
    parent_path, name = os.path.split(os.path.normpath("/" + mount.destination.lstrip("/")))
    if not name:
        return
    try:
        parent = inroot.open_in_root(root_fd, parent_path)
    except FileNotFoundError:
        return  # made below, as a directory
    try:
        st = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return
    finally:
        os.close(parent)
    if not stat.S_ISDIR(st.st_mode):
        raise _sys.SyscallError(errno.ENOTDIR, f'filesystem "{mount.type}" must be mounted on ordinary directory',
                                f"mount point {mount.destination}")


def _mode_of_covered_directory(root_fd, mount, options):
    """A tmpfs without mode= takes the mode of the directory it covers, if
    that exists (runc does so; the kernel's default is 1777): None when the
    mount is something else or its destination is to be made."""
    if mount.type != "tmpfs" or options.is_bind or "mode=" in (options.data or ""):
        return None
    try:
        fd = inroot.open_in_root(root_fd, mount.destination)
    except OSError:
        return None
    try:
        return stat.S_IMODE(kernel.current.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _mount_onto(target, mount, options, source_tree, cgroups, what, tmpfs_mode=None):
    """Mount onto `target`; returns an fd of the mount now there (None for a
    remount).  tmpfs_mode: the mode of a new tmpfs's root, if not the default."""
    flags = options.flags
    if source_tree is not None:
        kernel.current.move_mount(source_tree, target, what)
        # a bind ignores every flag but MS_REC; the rest take a remount
        if flags & BIND_REMOUNT_FLAGS or options.cleared & BIND_REMOUNT_FLAGS:
            remount_bind(source_tree, flags & BIND_REMOUNT_FLAGS, options.cleared, what)
        return source_tree
    if flags & _sys.MS_REMOUNT:
        kernel.current.mount(None, inroot.fd_path(target), mount.type, flags, options.data, what)
        return None
    if mount.type in ("cgroup", "cgroup2"):
        from ocirun.linux import cgroupfs
        return cgroupfs.mount(target, mount.type, options, *cgroups, what)
    if _read_only_later(mount, options):
        flags &= ~_sys.MS_RDONLY
    data = options.data
    if tmpfs_mode is not None:
        data = f"{data},mode={tmpfs_mode:o}" if data else f"mode={tmpfs_mode:o}"
    tree = new_filesystem(mount.type, mount.source, flags, data, what)
    try:
        if options.copy_up:
            copy_up_into(target, tree, what)
        kernel.current.move_mount(tree, target, what)
    except BaseException:
        os.close(tree)
        raise
    return tree


def _read_only_later(mount, options):
    return mount.type == "tmpfs" and not options.is_bind and options.flags & _sys.MS_RDONLY


def _refuse_over_procfs(target, mount, source_tree):
    """runc's rule (config.check_proc_mount), checked again where the
    destination really is, after symlinks: on procfs, and at /proc, only a
    procfs, or one of the files lxcfs emulates."""
    destination = os.path.normpath("/" + mount.destination.lstrip("/"))
    on_procfs = kernel.current.fstatfs_type(target, f"mount point {mount.destination}") == _sys.PROC_SUPER_MAGIC
    if not on_procfs and destination != "/proc":
        return
    if mount.type == "proc" and source_tree is None:
        return
    if source_tree is not None and kernel.current.fstatfs_type(source_tree, "mount source") == _sys.PROC_SUPER_MAGIC:
        return
    if on_procfs and destination in PROC_MOUNT_ALLOWED:
        return
    raise _sys.SyscallError(errno.EPERM, "only procfs may be mounted there",
                            f"mount {mount.type or 'bind'} {mount.source} on {mount.destination}")


def copy_up_into(target, tree, what):
    """tmpcopyup: the new tmpfs `tree`, still detached, gets what the
    directory at `target` holds, which it is about to cover.  Both ends are
    fds: no symlink in the image is ever followed."""
    try:
        covered = os.open(inroot.fd_path(target), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"tmpcopyup {what}") from None
    try:
        top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=tree)
        try:
            _copy_tree(covered, top)
            _copy_metadata(os.fstat(covered), "", top)
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"tmpcopyup {e.filename or what}") from None
        finally:
            os.close(top)
    finally:
        os.close(covered)


def _copy_tree(source_fd, destination_fd):
    """Copy the directory open at source_fd into the one open at
    destination_fd, keeping types, modes, owners and times; symlinks are
    copied, never followed."""
    for entry in os.scandir(source_fd):
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=destination_fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=source_fd)
            try:
                copy = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                               dir_fd=destination_fd)
                try:
                    _copy_tree(child, copy)
                finally:
                    os.close(copy)
            finally:
                os.close(child)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=source_fd), name, dir_fd=destination_fd)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(source_fd, destination_fd, name, st.st_size)
        elif stat.S_ISSOCK(st.st_mode):
            continue  # a socket is only a name without its listener
        else:
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=destination_fd)
        _copy_metadata(st, name, destination_fd)


def _copy_file(source_fd, destination_fd, name, size):
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=source_fd)
    try:
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                      dir_fd=destination_fd)
        try:
            while size > 0:
                sent = os.sendfile(dst, src, None, size)
                if sent == 0:
                    break
                size -= sent
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_metadata(st, name, dir_fd):
    """Owner, mode and times of `st` onto `name` in dir_fd ("" for dir_fd itself)."""
    if not name:  # the directory itself
        os.chown(dir_fd, st.st_uid, st.st_gid)
        os.chmod(dir_fd, stat.S_IMODE(st.st_mode))
        os.utime(dir_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dir_fd, follow_symlinks=False)


def pivot(root_fd, no_pivot):
    """Make the rootfs open at root_fd the root: pivot_root and detach the old
    root, or, with --no-pivot, move it over / and chroot."""
    if no_pivot:
        hide_host_proc_and_sys(os.readlink(f"/proc/self/fd/{root_fd}"))
        os.fchdir(root_fd)
        _sys.mount(".", "/", None, _sys.MS_MOVE, what="move the rootfs to /")
        os.chroot(".")
    else:
        old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fchdir(root_fd)
            _sys.pivot_root(".", ".")
            # The old root now sits on top of the new one.  Keep its unmount
            # from propagating to the host before detaching it: on the old
            # root itself, reached through its fd (mount(2) on "." would take
            # the new root's mount and make the container's rshared volumes
            # slaves).
            os.fchdir(old_root)
            _sys.mount(None, ".", None, _sys.MS_SLAVE | _sys.MS_REC, what="make old root rslave")
            _sys.umount2(".", _sys.MNT_DETACH)
        finally:
            os.close(old_root)
    os.chdir("/")


def chroot(root_fd):
    """The container's root without a mount namespace of its own."""
    os.fchdir(root_fd)
    os.chroot(".")
    os.chdir("/")


def host_mount_points(rootfs, mounts):
    """Where a container that shares the host's mount namespace mounts, as host
    paths, in mount order: what delete must undo."""
    return [resolve_in_root(rootfs, mount.destination) for mount in mounts]


def undo_host_mounts(points):
    """Detach what a container without a mount namespace mounted on the host, last first."""
    for point in reversed(points):
        try:
            _sys.umount2(point, _sys.MNT_DETACH)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOENT):  # not (or no longer) a mount point
                raise


def open_dev_null(root_fd):
    """The container's /dev/null, checked to be the null device: a masked path
    is covered with it, and an image could have planted anything there
    (CVE-2025-31133)."""
    try:
        fd = inroot.open_in_root(root_fd, "/dev/null")
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, "mask paths: /dev/null") from None
    st = kernel.current.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != (1, 3):
        os.close(fd)
        raise _sys.SyscallError(errno.EPERM, "it is not the null device (1:3)", "mask paths: /dev/null")
    return fd


def _existing_paths(root_fd, paths, what):
    """(path, an fd of it inside the root) for each of `paths` that exists;
    the fd is closed when the caller moves on."""
    for path in paths:
        try:
            target = inroot.open_in_root(root_fd, path)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"{what} {path}") from None
        try:
            yield path, target
        finally:
            os.close(target)


def mask_paths(root_fd, paths):
    """Hide each path: the container's /dev/null over a file, an empty
    read-only tmpfs over a directory."""
    dev_null = None
    try:
        for path, target in _existing_paths(root_fd, paths, "mask"):
            if stat.S_ISDIR(kernel.current.fstat(target).st_mode):
                cover = new_filesystem("tmpfs", "tmpfs", _sys.MS_RDONLY, None, f"mask {path}")
            else:
                if dev_null is None:
                    dev_null = open_dev_null(root_fd)
                cover = kernel.current.open_tree("", _sys.OPEN_TREE_CLONE | _sys.OPEN_TREE_CLOEXEC | _sys.AT_EMPTY_PATH,
                                       dfd=dev_null, what=f"mask {path}")
            os.close(attach(cover, target, f"mask {path}"))
    finally:
        if dev_null is not None:
            os.close(dev_null)


def make_readonly(root_fd, paths):
    for path, target in _existing_paths(root_fd, paths, "readonly path"):
        tree = attach(kernel.current.open_tree("", _sys.OPEN_TREE_CLONE | _sys.OPEN_TREE_CLOEXEC | _sys.AT_RECURSIVE
                                               | _sys.AT_EMPTY_PATH, dfd=target, what=f"readonly path {path}"),
                      target, f"readonly path {path}")
        try:
            remount_bind(tree, _sys.MS_RDONLY, what=f"readonly path {path}")
        finally:
            os.close(tree)


def set_root_propagation(propagation):
    _sys.mount(None, "/", None, PROPAGATION[propagation], what=f"make / {propagation}")


def make_root_readonly():
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        locked = os.statvfs(root).f_flag & LOCKED_FLAGS
        _sys.mount(None, "/", None, _sys.MS_BIND | _sys.MS_REMOUNT | _sys.MS_RDONLY | locked, None,
                   "readonly root (remount)")
    finally:
        os.close(root)
