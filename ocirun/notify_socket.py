"""NOTIFY_SOCKET, handled as runc handles it: an engine that wants to hear
the container's sd_notify READY=1 (podman --sdnotify=container) sets
NOTIFY_SOCKET to its own socket for create and start.

create binds a directory of the container's state into the container at
/run/notify and gives the process NOTIFY_SOCKET=/run/notify/notify.sock;
start listens there before it releases the process and, once the container
says READY=1, sends READY=1 and MAINPID=<the init's pid> on to the engine's
socket, then returns.
"""
import os

import _socket

DIRECTORY = "notify"  # in the state directory
IN_CONTAINER = "/run/notify"
SOCKET = "notify.sock"


def requested():
    return os.environ.get("NOTIFY_SOCKET") or None


def add_to_config(config, state_directory):
    """The config with the notify directory mounted and NOTIFY_SOCKET set for its process."""
    from ocirun.config import with_bind_mount
    return with_bind_mount(config, os.path.join(state_directory, DIRECTORY), IN_CONTAINER,
                           ("bind", "nosuid", "noexec", "nodev", "ro"),
                           env=(f"NOTIFY_SOCKET={IN_CONTAINER}/{SOCKET}",))


def make_directory(state_directory):
    os.mkdir(os.path.join(state_directory, DIRECTORY), 0o755)


def is_set_up(state_directory):
    return os.path.isdir(os.path.join(state_directory, DIRECTORY))


def listen(state_directory):
    """The container's end, bound before its process can run."""
    path = os.path.join(state_directory, DIRECTORY, SOCKET)
    if os.path.exists(path):
        os.unlink(path)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    # through the directory's fd: a state path may be longer than sun_path's 108 bytes
    directory = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.bind(f"/proc/self/fd/{directory}/{SOCKET}")
    finally:
        os.close(directory)
    os.chmod(path, 0o777)  # any user in the container may notify
    return sock


def forward_when_ready(sock, host_socket, init_pid, pidfd):
    """Wait for READY=1 from the container (or its init's exit: then nothing
    is sent), and pass READY=1 and MAINPID on to host_socket."""
    import select
    try:
        while True:
            ready = select.select([sock, pidfd], [], [])[0]
            if sock in ready:
                if b"READY=1" in sock.recv(4096).split(b"\n"):
                    break
            elif pidfd in ready:
                return False
        target = "\0" + host_socket[1:] if host_socket.startswith("@") else host_socket
        out = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
        try:
            out.sendto(f"READY=1\nMAINPID={init_pid}\n".encode(), target)
        finally:
            out.close()
        return True
    finally:
        sock.close()
