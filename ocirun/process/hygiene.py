"""What a runtime process must shed before it enters a container's namespaces.

From the moment a process of ocirun's exists in the container (stage A, the
init, exec's joiner and the process it starts) until the user's program
runs, a process of the container may look at it through /proc/<pid>.  So
it carries nothing of the host there:

- it is not dumpable: /proc/<pid>/exe (the host's interpreter), fd, environ,
  mem, cwd, root and map_files are refused to anyone without CAP_SYS_PTRACE
  over it; the final execve makes the user's program dumpable again;
- its environment (the caller's: an engine's, credentials included) is
  wiped where /proc/<pid>/environ reads it, in the process's own memory;
- it holds no file descriptor but stdio, the --preserve-fds ones and its
  own (the channel, the exec fifo, the sealed exec helper): the caller's
  other fds, and ours to host files such as a cgroup.procs or a state
  directory, are closed (CVE-2024-21626).

And once its root (or mount namespace) is the container's, it imports
nothing from files: every path the interpreter would search then names the
image's files, and a planted /usr/lib/python3.11/<module>.py would run in
ocirun's process, with ocirun's privileges (forbid_imports_from_files).
"""
import errno
import gc
import os

from ocirun import _sys


def shed_host_state(keep_fds):
    """In a child just forked, before it joins any namespace of the container."""
    gc.disable()  # a collection could close a number the closing below freed and a later open reused
    # first: /proc/self/mem of a process that is not dumpable is root's, out
    # of reach of a rootless caller (and nothing of the container sees us yet)
    wipe_environment()
    _sys.prctl(_sys.PR_SET_DUMPABLE, 0, what="make the runtime's process not dumpable")
    close_fds_except(keep_fds)


def forbid_imports_from_files():
    """From here on only modules built into the interpreter (and frozen ones)
    can be imported; any other import fails, loudly, instead of reading the
    container's files.  What the steps after it need is imported before."""
    import sys
    sys.meta_path[:] = [finder for finder in sys.meta_path
                        if getattr(finder, "__name__", "") in ("BuiltinImporter", "FrozenImporter")]
    sys.path_hooks.clear()
    sys.path_importer_cache.clear()
    sys.path[:] = []


def wipe_environment():
    """Zero the caller's environment strings where /proc/self/environ reads
    them: env_start..env_end, fields 50 and 51 of /proc/self/stat.  (The
    interpreter's os.environ is a copy on the heap, out of reach of a
    process that cannot read our memory; nothing in the container's setup
    passes it on: processes get their config's env.)"""
    fd = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fields = os.read(fd, 4096).rsplit(b")", 1)[1].split()
    finally:
        os.close(fd)
    start, end = int(fields[47]), int(fields[48])  # counted from field 3, the state
    if end > start:
        mem = os.open("/proc/self/mem", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.pwrite(mem, bytes(end - start), start)
        finally:
            os.close(mem)


def fds_to_keep(preserve_fds, *own):
    """stdio, the --preserve-fds range and the runtime's own fds (None: not made)."""
    return {*range(3 + preserve_fds), *(fd for fd in own if fd is not None)}


def close_fds_except(keep):
    """Close every fd above 2 that is not in `keep`."""
    previous = 2
    for fd in sorted(fd for fd in keep if fd > 2):
        if fd > previous + 1:
            os.closerange(previous + 1, fd)
        previous = fd
    os.closerange(previous + 1, 2 ** 31 - 1)


def check_cwd_in_root(cwd):
    """After chdir(process.cwd): refuse a working directory outside the
    container's root, which getcwd(3) reports as unreachable (a cwd through
    a leaked fd of the host's, /proc/self/fd/N, lands there)."""
    try:
        where = os.getcwd()
    except FileNotFoundError:
        where = None
    if not where or not where.startswith("/"):
        raise _sys.SyscallError(errno.EPERM, "the working directory is outside the container's root",
                                f"process.cwd {cwd}")
