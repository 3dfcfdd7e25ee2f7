"""process.terminal: a pty made inside the container, its slave the process's
stdio and controlling terminal, its master handed to whoever asked for it
with --console-socket (an AF_UNIX socket; the fd goes with SCM_RIGHTS, as
runc sends it, beside the pty's name).

The pty is opened once the process is in the container's mount namespace
(after pivot_root for the init, after setns for exec), so it belongs to the
container's own devpts instance; the master then travels to the runtime over
the channel, and the runtime sends it on.
"""
import errno
import os
import stat
import struct
import sys

# fcntl and termios are imported by the parent (LaunchPlan) before the fork:
# after pivot_root a lazy import cannot find them
import fcntl
import termios

import _socket

from ocirun import _sys
from ocirun.linux import inroot, kernel


def open_pty(console_size, uid, gid):
    """(master, slave) of a new pty, the slave owned by the process's user
    (and gid, unless -1) and of console_size (rows, columns) when given."""
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    _check_pty(master, slave)
    if console_size:
        rows, columns = console_size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    os.fchown(slave, uid, gid)
    return master, slave


def _check_pty(master, slave):
    """Both ends are a pty's (the master of /dev/ptmx, 5:2; a slave of a
    devpts, 136-143), whatever the image put at /dev/ptmx and /dev/pts."""
    master_dev, slave_dev = os.fstat(master), os.fstat(slave)
    if not (stat.S_ISCHR(master_dev.st_mode) and os.major(master_dev.st_rdev) == 5
            and stat.S_ISCHR(slave_dev.st_mode) and 136 <= os.major(slave_dev.st_rdev) <= 143):
        os.close(master)
        os.close(slave)
        raise _sys.SyscallError(errno.ENOTTY, "not a pseudo-terminal of the container's devpts",
                                "open the console")


def make_console_target(root_fd):
    """Before pivot_root: /dev/console inside the rootfs, made an empty file
    when missing, and never through a symlink an image planted there
    (CVE-2025-52565).  Returns its fd, for bind_console."""
    try:
        dev = inroot.make_in_root(root_fd, "/dev")
        try:
            try:
                kernel.current.make_file("console", 0o600, dev)
            except FileExistsError:
                pass
            target = os.open("console", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev)
        finally:
            os.close(dev)
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, "/dev/console") from None
    mode = os.fstat(target).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)) or \
            _sys.fstatfs_type(target, "/dev/console") == _sys.PROC_SUPER_MAGIC:
        os.close(target)
        raise _sys.SyscallError(errno.EPERM, "it is neither a file nor a device node", "/dev/console")
    return target


def bind_console(slave, target):
    """The pty's slave bound at /dev/console (config.md: process.terminal)."""
    tree = kernel.current.open_tree("", _sys.OPEN_TREE_CLONE | _sys.OPEN_TREE_CLOEXEC | _sys.AT_EMPTY_PATH,
                                    dfd=slave, what="bind the console at /dev/console")
    try:
        kernel.current.move_mount(tree, target, "bind the console at /dev/console")
    finally:
        os.close(tree)


def become_controlling_terminal(slave):
    """A new session whose controlling terminal is `slave`, which becomes stdin, stdout and stderr."""
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def pass_on(master, path):
    """The runtime's side: hand the master it received to --console-socket, and close it."""
    try:
        send_to_console_socket(path, master)
    finally:
        os.close(master)


def send_to_console_socket(path, master):
    """Hand the pty master to the engine listening at `path`."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(path)
        except OSError as e:
            raise OSError(e.errno, e.strerror, f"--console-socket {path}") from None
        sock.sendmsg([b"/dev/ptmx"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, master.to_bytes(4, sys.byteorder))])
    finally:
        sock.close()


def relay(master, pid):
    """A foreground run's terminal: our stdin to the pty (raw, when it is a
    terminal itself, with its window size), the pty to our stdout, until the
    container's process `pid` has exited and its output is drained."""
    import select
    import signal
    import tty
    pidfd = os.pidfd_open(pid)
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        # the kernel then signals the pty's foreground process group itself
        signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(master))
    sources = {master, 0}  # 0: our stdin, read until its end
    try:
        while True:
            ready = select.select([pidfd, *sources], [], [])[0]
            if 0 in ready:
                data = os.read(0, 4096)
                if data:
                    os.write(master, data)
                else:
                    sources.discard(0)  # stdin at its end: the container keeps its tty
            if master in ready and not _copy_out(master):
                sources.discard(master)  # EIO: no slave end open; wait for the exit alone
            if pidfd in ready:
                if master in sources:
                    _drain(master)
                break
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(pidfd)
        os.close(master)


def copy_window_size(master):
    """Our terminal's size (stdin's) onto the container's pty, when stdin is one."""
    if os.isatty(0):
        fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))


def _copy_out(master):
    try:
        data = os.read(master, 65536)
    except OSError:  # EIO: no slave end is open any more
        return False
    if data:
        os.write(1, data)
    return bool(data)


def _drain(master):
    os.set_blocking(master, False)
    try:
        while _copy_out(master):
            pass
    except BlockingIOError:
        pass
