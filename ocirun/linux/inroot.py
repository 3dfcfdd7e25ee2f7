"""Paths inside the container's root, opened through file descriptors.

The rootfs is the image's: any directory in it may be a symlink, and a
process of another container sharing a volume may swap one in while create
runs (CVE-2021-30465).  So a path in the rootfs is never resolved as a string
and then used: it is opened here, each symlink followed as the container
would follow it (an absolute target starts again at the root, `..` never
climbs above it), and the caller acts on the fd it gets, mounting onto it
with move_mount or through /proc/self/fd/N.

openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) does it in one call (Linux
5.6); where a directory must be made on the way, or openat2 is missing, a
walk opens one component at a time with O_NOFOLLOW and reads each symlink
itself, keeping its own stack of directory fds for `..`.
"""
import errno
import os
import stat

from ocirun import _sys
from ocirun.linux import kernel

_MAX_SYMLINKS = 40
_RESOLVE = _sys.RESOLVE_IN_ROOT | _sys.RESOLVE_NO_MAGICLINKS
_openat2_missing = False


def open_root(path):
    """An O_PATH fd of the rootfs directory itself (a host path the config names)."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def open_in_root(root_fd, path, flags=os.O_PATH):
    """An fd of `path` inside the root open at root_fd; FileNotFoundError when it is missing."""
    global _openat2_missing
    if not _openat2_missing:
        for _ in range(16):
            try:
                return _sys.openat2(root_fd, path, flags | os.O_CLOEXEC, _RESOLVE, what=path)
            except OSError as e:
                if e.errno == errno.ENOSYS:
                    _openat2_missing = True
                    break
                if e.errno != errno.EAGAIN:  # EAGAIN: a rename raced the walk; it may be tried again
                    raise OSError(e.errno, e.strerror, path) from None  # FileNotFoundError for ENOENT
    fd = _walk(root_fd, path, None)
    if flags == os.O_PATH:
        return fd
    try:  # reopen the object itself, not a name that may have changed since
        return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)
    finally:
        os.close(fd)


def make_in_root(root_fd, path, kind="dir"):
    """An O_PATH fd of `path` inside the root, made first when missing: every
    missing directory on the way, then the last component as a directory
    (kind "dir") or an empty file (kind "file")."""
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        return _walk(root_fd, path, kind)


def _walk(root_fd, path, create):
    """Open `path` one component at a time below root_fd; with `create`, make
    what is missing.  Returns an O_PATH fd."""
    stack = [os.dup(root_fd)]  # the directories from the root down to where we are
    # the components still to walk, the next one last (a list: collections
    # costs ~1 ms of import on every container start)
    parts = [p for p in reversed(path.split("/")) if p and p != "."]
    links = 0
    try:
        while parts:
            part = parts.pop()
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            except FileNotFoundError:
                if create is None:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path) from None
                _make(stack[-1], part, create if not parts else "dir")
                parts.append(part)  # and open what was made (or what a racer made)
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                target = os.readlink("", dir_fd=fd)
                os.close(fd)
                links += 1
                if links > _MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts.extend(p for p in reversed(target.split("/")) if p and p != ".")
                continue
            if parts and not stat.S_ISDIR(mode):
                os.close(fd)
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            stack.append(fd)
        return os.dup(stack[-1]) if len(stack) == 1 else stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def _make(dir_fd, name, kind):
    try:
        if kind == "file":
            kernel.current.make_file(name, 0o644, dir_fd)
        else:
            kernel.current.mkdir(name, 0o755, dir_fd)
    except FileExistsError:
        pass  # made meanwhile: the walk opens whatever is there now


def fd_path(fd):
    """The path by which mount(2) and friends reach exactly the object open at
    `fd`.  Only before pivot_root: /proc is then the runtime's own."""
    return f"/proc/self/fd/{fd}"
