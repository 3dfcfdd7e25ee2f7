"""The start barrier: a FIFO in the container's state directory.

create opens it read-write before forking, so the container's init inherits
a reading end and blocks reading one byte from it; `start` opens it for
writing and writes that byte.  Opening with O_NONBLOCK fails with ENXIO when
no process holds a reading end, which tells start the init is gone instead of
blocking forever.

With startContainer or poststart hooks, start must also learn how the init
fared after release: the init holds a second FIFO, exec.status, open across
exec with O_CLOEXEC.  start reads it to EOF, which comes when the init execs
(empty: success) or writes why it will not and exits.
"""
import errno
import os

FIFO_NAME = "exec.fifo"
STATUS_FIFO_NAME = "exec.status"


def create_fifo(state_dir):
    """Make the FIFO and return (path, fd); the fd is for the init to inherit."""
    path = os.path.join(state_dir, FIFO_NAME)
    os.mkfifo(path, 0o600)
    return path, os.open(path, os.O_RDWR | os.O_CLOEXEC)


def wait_for_start(fd):
    """Init side: block until `start` writes the byte."""
    while not os.read(fd, 1):
        pass


def release(path):
    """start side: let the init go on to exec.  Returns False when the init is gone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return False
        raise
    try:
        os.write(fd, b"0")
    except BrokenPipeError:
        return False
    finally:
        os.close(fd)
    return True


def create_status_fifo(state_dir):
    """The exec.status FIFO; returns the fd the init inherits (it writes there)."""
    path = os.path.join(state_dir, STATUS_FIFO_NAME)
    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDWR | os.O_CLOEXEC)


def watch_exec(state_dir):
    """start side, before release: open exec.status for reading, or None when
    create made none.  Opened before the init can exit, so a failure it
    writes cannot be lost."""
    path = os.path.join(state_dir, STATUS_FIFO_NAME)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    os.set_blocking(fd, True)
    os.unlink(path)
    return fd


def wait_for_exec(fd):
    """start side, after release: '' once the init has exec'd, else why it did not."""
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                return b"".join(chunks).decode(errors="replace")
            chunks.append(chunk)
    finally:
        os.close(fd)
