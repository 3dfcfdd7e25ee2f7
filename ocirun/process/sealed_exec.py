"""The last exec of a container's process goes through a sealed helper.

ocirun's processes in a container run the host's Python interpreter.  Were
they to exec the user's program themselves, a program that is a script
starting with `#!/proc/self/exe` would make the kernel run that interpreter
again inside the container, and a second process of the container could
open it through /proc/<pid>/exe and, once nothing runs Python, overwrite
the host's interpreter (CVE-2019-5736).

So the last exec is of ocirun-exec (cext/exec_helper.c, a tiny static
program whose only work is execve), copied into a memfd that is then sealed
against every change, and run from that fd.  A created container's init
that has nothing left to do after start (no startContainer hook, LSM label
or late seccomp filter) waits for start as that helper, not as Python, so
that the interpreter is not what it runs for as long as it waits.  /proc/self/exe is then the
sealed copy: a `#!/proc/self/exe` script gets the helper, which can be read
and run but never written, and which belongs to no host file.  The copy
costs ~15 us (measured: 13 KiB built with musl).
"""
import fcntl
import os

from ocirun import _sys

_HELPER = os.path.join(os.path.dirname(os.path.dirname(__file__)), "ocirun-exec")
_MFD_EXEC = 0x10  # Linux 6.3: ask for an executable memfd even where vm.memfd_noexec says otherwise
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def sealed_helper():
    """A sealed, executable memfd holding the helper (close-on-exec)."""
    try:
        with open(_HELPER, "rb") as f:
            program = f.read()
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, f"read the exec helper {_HELPER}") from None
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("ocirun-exec", flags | _MFD_EXEC)
    except OSError as e:
        if e.errno != 22:  # EINVAL: a kernel before 6.3, where every memfd may be executed
            raise _sys.SyscallError(e.errno, e.strerror, "memfd_create for the exec helper") from None
        fd = os.memfd_create("ocirun-exec", flags)
    try:
        os.write(fd, program)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def exec_through(helper_fd, path, args, environ, status_fd=None, wait_fd=None):
    """execve `path` with `args` and `environ` by way of the sealed helper;
    with wait_fd (the exec fifo), the helper first waits there for start.
    The helper reports a failure of that last execve on stderr (and on
    status_fd) and exits 1, as runc's init does; it closes both fds on exec.  Returns only
    when the helper itself cannot be run, raising OSError."""
    argv = ["ocirun-exec"]
    if wait_fd is not None:
        os.set_inheritable(wait_fd, True)
        argv += ["--wait", str(wait_fd)]
    argv.append(str(status_fd) if status_fd is not None else "-")
    if status_fd is not None:
        os.set_inheritable(status_fd, True)  # the helper marks it close-on-exec again
    os.execve(helper_fd, argv + [path, *args], environ)
