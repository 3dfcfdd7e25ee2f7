"""Files of procfs that ocirun writes (sysctls, oom_score_adj, time offsets,
LSM attributes): opened so that they are procfs files and nothing else.

A config's mount or an image's symlink can put anything at a path under a
container's /proc; a write meant for the kernel would then land in a file
the container chose (CVE-2025-52881).  So these files are opened below
/proc as the calling process sees it at that moment (the runtime's own,
before pivot_root) with openat2 refusing symlinks that leave /proc, magic
links and mount crossings, and each one is checked to be on procfs.
"""
import errno
import os

from ocirun import _sys

_RESOLVE = _sys.RESOLVE_BENEATH | _sys.RESOLVE_NO_MAGICLINKS | _sys.RESOLVE_NO_XDEV


def open_file(path, flags, what):
    """/proc/<path> (path relative to /proc), checked to be a procfs file."""
    proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _check_procfs(proc, what)
        try:
            fd = _sys.openat2(proc, path, flags | os.O_CLOEXEC, _RESOLVE, what=what)
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise _sys.SyscallError(e.errno, e.strerror, what) from None
            try:  # before Linux 5.6: at least no symlink as the last component
                fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=proc)
            except OSError as e:
                raise _sys.SyscallError(e.errno, e.strerror, what) from None
    finally:
        os.close(proc)
    try:
        _check_procfs(fd, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write(path, value, what):
    fd = open_file(path, os.O_WRONLY, what)
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, what) from None
    finally:
        os.close(fd)


def _check_procfs(fd, what):
    if _sys.fstatfs_type(fd, what) != _sys.PROC_SUPER_MAGIC:
        raise _sys.SyscallError(errno.EPERM, "it is not on procfs", what)
