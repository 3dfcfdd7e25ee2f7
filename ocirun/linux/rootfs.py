"""The container's root filesystem: propagation, config.json mounts,
pivot_root, masked and readonly paths, a readonly root."""
import errno
import os
import stat

from ocirun import _sys
from ocirun.errors import ConfigError

# mount option -> (flags to set, flags to clear); see config.md and mount(8)
_FLAG_OPTIONS = {
    "ro": (_sys.MS_RDONLY, 0), "rw": (0, _sys.MS_RDONLY),
    "nosuid": (_sys.MS_NOSUID, 0), "suid": (0, _sys.MS_NOSUID),
    "nodev": (_sys.MS_NODEV, 0), "dev": (0, _sys.MS_NODEV),
    "noexec": (_sys.MS_NOEXEC, 0), "exec": (0, _sys.MS_NOEXEC),
    "sync": (_sys.MS_SYNCHRONOUS, 0), "async": (0, _sys.MS_SYNCHRONOUS),
    "dirsync": (_sys.MS_DIRSYNC, 0),
    "remount": (_sys.MS_REMOUNT, 0),
    "mand": (_sys.MS_MANDLOCK, 0), "nomand": (0, _sys.MS_MANDLOCK),
    "noatime": (_sys.MS_NOATIME, 0), "atime": (0, _sys.MS_NOATIME),
    "nodiratime": (_sys.MS_NODIRATIME, 0), "diratime": (0, _sys.MS_NODIRATIME),
    "relatime": (_sys.MS_RELATIME, 0), "norelatime": (0, _sys.MS_RELATIME),
    "strictatime": (_sys.MS_STRICTATIME, 0), "nostrictatime": (0, _sys.MS_STRICTATIME),
    "lazytime": (_sys.MS_LAZYTIME, 0), "nolazytime": (0, _sys.MS_LAZYTIME),
    "nosymfollow": (_sys.MS_NOSYMFOLLOW, 0), "symfollow": (0, _sys.MS_NOSYMFOLLOW),
    "silent": (_sys.MS_SILENT, 0), "loud": (0, _sys.MS_SILENT),
    "bind": (_sys.MS_BIND, 0), "rbind": (_sys.MS_BIND | _sys.MS_REC, 0),
}

PROPAGATION = {
    "private": _sys.MS_PRIVATE, "rprivate": _sys.MS_PRIVATE | _sys.MS_REC,
    "shared": _sys.MS_SHARED, "rshared": _sys.MS_SHARED | _sys.MS_REC,
    "slave": _sys.MS_SLAVE, "rslave": _sys.MS_SLAVE | _sys.MS_REC,
    "unbindable": _sys.MS_UNBINDABLE, "runbindable": _sys.MS_UNBINDABLE | _sys.MS_REC,
}

# The recursive options, set on the mount and every mount below it with
# mount_setattr(2): option -> (attributes to set, attributes to clear)
_MOUNT_ATTRS = {  # option -> (its attribute, the option that undoes it)
    "ro": (_sys.MOUNT_ATTR_RDONLY, "rw"), "nosuid": (_sys.MOUNT_ATTR_NOSUID, "suid"),
    "nodev": (_sys.MOUNT_ATTR_NODEV, "dev"), "noexec": (_sys.MOUNT_ATTR_NOEXEC, "exec"),
    "nodiratime": (_sys.MOUNT_ATTR_NODIRATIME, "diratime"),
    "nosymfollow": (_sys.MOUNT_ATTR_NOSYMFOLLOW, "symfollow"),
}
_RECURSIVE_OPTIONS = {**{"r" + option: (attr, 0) for option, (attr, _) in _MOUNT_ATTRS.items()},
                      **{"r" + undo: (0, attr) for attr, undo in _MOUNT_ATTRS.values()}}
# The atime setting is one value, not bits: setting it means clearing the
# whole field.  Undoing noatime, relatime or strictatime gives relatime, the
# kernel's default, as the non-recursive atime, norelatime and nostrictatime do.
_RECURSIVE_ATIME = {
    "rrelatime": _sys.MOUNT_ATTR_RELATIME, "rnoatime": _sys.MOUNT_ATTR_NOATIME,
    "rstrictatime": _sys.MOUNT_ATTR_STRICTATIME, "ratime": _sys.MOUNT_ATTR_RELATIME,
    "rnorelatime": _sys.MOUNT_ATTR_RELATIME, "rnostrictatime": _sys.MOUNT_ATTR_RELATIME,
}

_IDMAP_OPTIONS = ("idmap", "ridmap")  # see idmap.py

# flags a bind remount may change; the rest come from the mount as it is
BIND_REMOUNT_FLAGS = (_sys.MS_RDONLY | _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC
                       | _sys.MS_NOATIME | _sys.MS_NODIRATIME | _sys.MS_RELATIME
                       | _sys.MS_STRICTATIME | _sys.MS_NOSYMFOLLOW)
# statvfs f_flag bits that the kernel locks in a user namespace and that a
# remount must therefore repeat (they equal the MS_ values)
_LOCKED_STATVFS_FLAGS = _sys.MS_RDONLY | _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC

_MAX_SYMLINKS = 40


class MountOptions:
    __slots__ = ("flags", "cleared", "propagation", "data", "recursive_set", "recursive_clear",
                 "copy_up", "idmap", "idmapped_fd")

    def __init__(self, options, where, fs_type=None):
        self.flags = self.cleared = 0
        self.recursive_set = self.recursive_clear = 0
        self.copy_up = False
        self.idmap = None  # "idmap" or "ridmap"
        self.idmapped_fd = None  # set by the parent: the source, detached and id-mapped
        self.propagation = []
        data = []
        for option in options:
            if option in _FLAG_OPTIONS:
                set_flags, clear_flags = _FLAG_OPTIONS[option]
                self.flags = (self.flags | set_flags) & ~clear_flags
                self.cleared = (self.cleared | clear_flags) & ~set_flags
            elif option in PROPAGATION:
                self.propagation.append(PROPAGATION[option])
            elif option in _RECURSIVE_OPTIONS:
                set_attrs, clear_attrs = _RECURSIVE_OPTIONS[option]
                self.recursive_set = (self.recursive_set | set_attrs) & ~clear_attrs
                self.recursive_clear = (self.recursive_clear | clear_attrs) & ~set_attrs
            elif option in _RECURSIVE_ATIME:
                self.recursive_set = self.recursive_set & ~_sys.MOUNT_ATTR__ATIME | _RECURSIVE_ATIME[option]
                self.recursive_clear |= _sys.MOUNT_ATTR__ATIME
            elif option == "tmpcopyup":
                self.copy_up = True
            elif option in _IDMAP_OPTIONS:
                self.idmap = option
            else:
                data.append(option)  # filesystem-specific, e.g. mode=755, size=64k
        self.data = ",".join(data) or None
        if self.copy_up and (fs_type != "tmpfs" or self.is_bind):
            kind = "a bind mount" if self.is_bind else f"type {fs_type}"
            raise ConfigError(f"config.json: {where}.options: tmpcopyup is for tmpfs mounts, not {kind}")

    @property
    def is_bind(self):
        return bool(self.flags & _sys.MS_BIND)


def parse_mounts(mounts):
    """Check every mount's options up front, so a bad one fails before any fork."""
    return [MountOptions(m.options, f"mounts[{i}]", m.type) for i, m in enumerate(mounts)]


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


def _make_mount_point(path, for_file):
    if os.path.lexists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if for_file:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    else:
        os.mkdir(path, 0o755)


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


def _mount_point_of(path, mountinfo="/proc/self/mountinfo"):
    """The mount point of the mount that holds `path`."""
    best = "/"
    with open(mountinfo, "rb") as f:
        for line in f:
            # field 5 is the mount point, with space, tab, newline and \\ octal-escaped
            point = line.split()[4].decode("unicode_escape").encode("latin-1").decode()
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best = point
    return best


def mount_all(rootfs, mounts, parsed_options, bundle, made, cgroups):
    """Mount each in order; unless `made` is None, append each destination
    once mounted.  cgroups: (the container's cgroups.Manager, whether it has
    a cgroup namespace), for mounts of type cgroup and cgroup2."""
    for mount, options in zip(mounts, parsed_options):
        mount_one(rootfs, mount, options, bundle, cgroups)
        if made is not None:
            made.append(mount.destination)


def mount_one(rootfs, mount, options, bundle, cgroups):
    source = mount.source
    if options.is_bind:
        source = os.path.join(bundle, source) if source and not source.startswith("/") else source
        try:
            for_file = not os.path.isdir(source)
            os.stat(source)
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"mount source {source}") from None
    else:
        for_file = False
    try:
        target = resolve_in_root(rootfs, mount.destination)
        _make_mount_point(target, for_file)
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"mount point {mount.destination}") from None
    what = f"mount {mount.type or 'bind'} {source} on {mount.destination}"
    flags = options.flags
    if options.is_bind:
        # A bind ignores every flag but MS_REC; the rest take a remount.
        if options.idmapped_fd is not None:
            _sys.move_mount(options.idmapped_fd, target, what=f"{what} (id-mapped)")
        else:
            _sys.mount(source, target, mount.type, flags & (_sys.MS_BIND | _sys.MS_REC), options.data, what)
        if flags & BIND_REMOUNT_FLAGS or options.cleared & BIND_REMOUNT_FLAGS:
            remount_bind(target, flags & BIND_REMOUNT_FLAGS, options.cleared, what)
    elif options.copy_up:
        mount_tmpfs_copying_up(target, flags, options.data, what)
    elif mount.type in ("cgroup", "cgroup2"):
        from ocirun.linux import cgroupfs
        cgroupfs.mount(target, mount.type, options, *cgroups, what)
    else:
        _sys.mount(source, target, mount.type, flags, options.data, what)
    for propagation in options.propagation:
        _sys.mount(None, target, None, propagation, what=f"set propagation of {mount.destination}")
    if options.recursive_set or options.recursive_clear:
        _sys.mount_setattr(target, _sys.AT_RECURSIVE, options.recursive_set, options.recursive_clear,
                           what=f"set recursive options of {mount.destination}")


def mount_tmpfs_copying_up(target, flags, data, what):
    """tmpcopyup: a tmpfs over `target` that starts with target's contents.

    A directory fd opened before the mount still reaches what the tmpfs then
    covers, so the copy reads it there: no temporary mount point on the
    host, and no symlink in the image is ever followed."""
    covered = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _sys.mount("tmpfs", target, "tmpfs", flags & ~_sys.MS_RDONLY, data, what)
        try:
            _copy_tree(covered, target)
            _copy_metadata(os.stat(covered), target)
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, f"tmpcopyup {e.filename or target}") from None
        if flags & _sys.MS_RDONLY:
            _sys.mount(None, target, None, _sys.MS_REMOUNT | flags, data, what + " (remount)")
    finally:
        os.close(covered)


def _copy_tree(source_fd, destination):
    """Copy the directory open at source_fd into `destination`, keeping types,
    modes, owners and times; symlinks are copied, never followed."""
    for entry in os.scandir(source_fd):
        st = entry.stat(follow_symlinks=False)
        target = os.path.join(destination, entry.name)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(target, 0o700)
            child = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                            dir_fd=source_fd)
            try:
                _copy_tree(child, target)
            finally:
                os.close(child)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(entry.name, dir_fd=source_fd), target)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(source_fd, entry.name, target, st.st_size)
        elif stat.S_ISSOCK(st.st_mode):
            continue  # a socket is only a name without its listener
        else:
            os.mknod(target, st.st_mode, st.st_rdev)
        _copy_metadata(st, target)


def _copy_file(source_fd, name, target, size):
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=source_fd)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
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


def _copy_metadata(st, target):
    os.chown(target, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def remount_bind(target, flags, cleared=0, what=None):
    """Remount a bind mount with `flags`, keeping the flags the kernel locks."""
    locked = os.statvfs(target).f_flag & _LOCKED_STATVFS_FLAGS & ~cleared
    _sys.mount(None, target, None, _sys.MS_BIND | _sys.MS_REMOUNT | flags | locked, None,
               (what or f"remount {target}") + " (remount)")


def pivot(rootfs, no_pivot):
    """Make `rootfs` the root: pivot_root and detach the old root, or, with
    --no-pivot, move it over / and chroot."""
    os.chdir(rootfs)
    if no_pivot:
        _sys.mount(rootfs, "/", None, _sys.MS_MOVE, what=f"move {rootfs} to /")
        os.chroot(".")
    else:
        _sys.pivot_root(".", ".")
        # The old root now sits under the new one; keep its unmount from
        # propagating to the host before detaching it.
        _sys.mount(None, ".", None, _sys.MS_SLAVE | _sys.MS_REC, what="make old root rslave")
        _sys.umount2(".", _sys.MNT_DETACH)
    os.chdir("/")


def chroot(rootfs):
    """The container's root without a mount namespace of its own."""
    os.chdir(rootfs)
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


def mask_paths(paths):
    """Hide each path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    for path in paths:
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            _sys.mount("tmpfs", path, "tmpfs", _sys.MS_RDONLY, None, f"mask {path}")
        else:
            _sys.mount("/dev/null", path, None, _sys.MS_BIND, None, f"mask {path}")


def make_readonly(paths):
    for path in paths:
        if not os.path.lexists(path):
            continue
        _sys.mount(path, path, None, _sys.MS_BIND | _sys.MS_REC, None, f"readonly path {path}")
        remount_bind(path, _sys.MS_RDONLY, what=f"readonly path {path}")


def set_root_propagation(propagation):
    _sys.mount(None, "/", None, PROPAGATION[propagation], what=f"make / {propagation}")


def make_root_readonly():
    remount_bind("/", _sys.MS_RDONLY, what="readonly root")


def known_mount_options():
    """Every option name ocirun handles itself (anything else is filesystem data)."""
    return sorted({*_FLAG_OPTIONS, *PROPAGATION, *_RECURSIVE_OPTIONS, *_RECURSIVE_ATIME,
                   *_IDMAP_OPTIONS, "tmpcopyup"})
