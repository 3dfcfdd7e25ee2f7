"""process.terminal: a pty made inside the container, its slave the process's
stdio and controlling terminal, its master handed to whoever asked for it
with --console-socket (an AF_UNIX socket; the fd goes with SCM_RIGHTS, as
runc sends it, beside the pty's name).

The pty is opened once the process is in the container's mount namespace
(after pivot_root for the init, after setns for exec), so it belongs to the
container's own devpts instance; the master then travels to the runtime over
the channel, and the runtime sends it on.
"""
import os
import struct
import sys

# fcntl and termios are imported by the parent (LaunchPlan) before the fork:
# after pivot_root a lazy import cannot find them
import fcntl
import termios

import _socket


def open_pty(console_size, uid, gid):
    """(master, slave) of a new pty, the slave owned by the process's user
    and of console_size (rows, columns) when given."""
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    if console_size:
        rows, columns = console_size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    os.fchown(slave, uid, gid)
    return master, slave


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
