"""The parent-child protocol of create: one SOCK_SEQPACKET socketpair, one
JSON object per packet.

    parent (ocirun create)          stage A (namespaces)              init (container pid 1)
    ──────────────────────          ────────────────────              ──────────────────────
    fork ─────────────────────────▶ join cgroup; setns/unshare user
    (--systemd-cgroup: start the unit
     with stage A in it; CGROUP_JOINED ▶ instead of joining, wait for it)
                                ◀── USERNS_READY          (only with a new user namespace)
    write uid_map, gid_map
    ID_MAPS_WRITTEN ──────────────▶ setns/unshare the rest; fork ───▶
                                ◀── INIT_PID {pid}
                                    exit 0
    move the init into the cgroup
    CGROUP_JOINED ───────────────────────────────────────────────────▶  (only when the init must
                                                                       wait for it: a scheduler)
                                                                      mounts, devices
                                ◀─────────────────────────────────── RUN_HOOKS  (only with prestart
    run prestart, createRuntime hooks                                             or createRuntime hooks)
    HOOKS_DONE ──────────────────────────────────────────────────────▶
                                                                      createContainer hooks, pivot_root,
                                                                      hostname, user, capabilities,
                                                                      seccomp
                                ◀─────────────────────────────────── SECCOMP_FD + fd  (only with
    pass it on to listenerPath                                                    SCMP_ACT_NOTIFY)
                                ◀─────────────────────────────────── INIT_READY
    write state "created"                                             block on the exec fifo;
                                                                      `ocirun start` releases it; exec

Any stage that fails sends ERROR {step, errno, message} and exits; the
parent raises ChildSetupError from it.  When every child end is closed
without a final message, the parent reports the init as gone.
"""
# _socket, not socket: the socket module imports enum and selectors, and only
# socketpair, send and recv are needed here.
import _socket
import sys

from ocirun import jsonio

USERNS_READY = "userns-ready"
ID_MAPS_WRITTEN = "id-maps-written"
INIT_PID = "init-pid"
INIT_READY = "init-ready"
SECCOMP_FD = "seccomp-fd"  # with the notify fd (SCM_RIGHTS), for the listener
CGROUP_JOINED = "cgroup-joined"
CONSOLE_FD = "console-fd"  # with the pty master (SCM_RIGHTS), for --console-socket
RUN_HOOKS = "run-hooks"
HOOKS_DONE = "hooks-done"
ERROR = "error"

_MAX_MESSAGE = 65536
_FD_SPACE = _socket.CMSG_SPACE(4)  # room for one passed fd


def fd_rights(fd):
    """The ancillary item that passes `fd` (SCM_RIGHTS) with a sendmsg."""
    return [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]


class Channel:
    def __init__(self, sock):
        self.sock = sock

    @classmethod
    def pair(cls):
        parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        return cls(parent), cls(child)

    def send(self, kind, **fields):
        fields["type"] = kind
        self.sock.send(jsonio.dumps(fields).encode())

    def send_fd(self, kind, fd, **fields):
        """A message that carries a file descriptor; the receiver finds it as message["fd"]."""
        fields["type"] = kind
        self.sock.sendmsg([jsonio.dumps(fields).encode()], fd_rights(fd))

    def receive(self):
        """The next message as a dict, or None when every peer has closed its end."""
        data, ancillary, _, _ = self.sock.recvmsg(_MAX_MESSAGE, _FD_SPACE)
        if not data:
            return None
        message = jsonio.loads(data)
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                message["fd"] = int.from_bytes(payload[:4], sys.byteorder)
        return message

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()
