"""The start barrier: a FIFO in the container's state directory.

create opens it read-write before forking, so the container's init inherits
a reading end and blocks reading one byte from it; `start` opens it for
writing and writes that byte.  Opening with O_NONBLOCK fails with ENXIO when
no process holds a reading end, which tells start the init is gone instead of
blocking forever.
"""
import errno
import os

FIFO_NAME = "exec.fifo"


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
