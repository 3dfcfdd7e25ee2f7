"""The parent-child protocol of create and exec: one SOCK_SEQPACKET socketpair,
one JSON object per packet, each message defined once below.

    parent (ocirun create)          stage A (namespaces)              init (container pid 1)
    ──────────────────────          ────────────────────              ──────────────────────
    fork ─────────────────────────▶ shed the runtime's state (hygiene.py);
                                    join cgroup; setns/unshare user
    (--systemd-cgroup: start the unit
     with stage A in it; CGROUP_JOINED ▶ instead of joining, wait for it)
                                ◀── USERNS_READY          (only with a new user namespace)
    write uid_map, gid_map
    ID_MAPS_WRITTEN ──────────────▶ setns/unshare the rest; fork ───▶
                                ◀── InitPid {pid}
                                    exit 0
    move the init into the cgroup
    (with a user namespace: clone the
     bind sources in the init's mount
     namespace; BindSourceFd + fd
     for each, BIND_SOURCES_SENT) ─────────────────────────────────────▶ (awaited before the mounts)
    CGROUP_JOINED ───────────────────────────────────────────────────▶ (awaited before the steps that
                                                                       need it, and before InitReady)
                                                                      mounts, devices
                                ◀─────────────────────────────────── RUN_HOOKS  (only with prestart
    run prestart, createRuntime hooks                                             or createRuntime hooks)
    HOOKS_DONE ──────────────────────────────────────────────────────▶
                                                                      createContainer hooks, pivot_root,
                                                                      hostname, user, capabilities,
                                                                      seccomp
                                ◀─────────────────────────────────── SeccompFd + fd  (only with
    pass it on to listenerPath                                                    SCMP_ACT_NOTIFY)
                                ◀─────────────────────────────────── ConsoleFd + fd  (process.terminal)
    pass it on to --console-socket
                                ◀─────────────────────────────────── InitReady {warnings}
    write state "created"                                             wait for `ocirun start` (as the
                                                                      sealed helper when it can); exec

exec (execute.py) is the same conversation without USERNS_READY, RUN_HOOKS
and the hooks: its joiner setns's where stage A unshares, and its process
sends InitReady right before its last exec.

Any stage that fails sends Error {step, errno, message} and exits; the
parent raises ChildSetupError from it.  When every child end is closed
without a final message, the parent reports the process as gone.
"""
# _socket, not socket: the socket module imports enum and selectors, and only
# socketpair, send and recv are needed here.
import _socket
import sys

from ocirun import jsonio

# messages without a payload: their kind is all there is
USERNS_READY = "userns-ready"
ID_MAPS_WRITTEN = "id-maps-written"
CGROUP_JOINED = "cgroup-joined"
BIND_SOURCES_SENT = "bind-sources-sent"
RUN_HOOKS = "run-hooks"
HOOKS_DONE = "hooks-done"

_MAX_MESSAGE = 65536
_FD_SPACE = _socket.CMSG_SPACE(4)  # room for one passed fd


class InitPid:
    kind = "init-pid"

    def __init__(self, pid):
        self.pid = pid


class InitReady:
    """Set up: what to warn of, and what only --debug shows."""
    kind = "init-ready"

    def __init__(self, warnings=(), notes=()):
        self.warnings = tuple(warnings)
        self.notes = tuple(notes)


class Error:
    """A failed step: what was being done, the errno (0 when none) and one line for the user."""
    kind = "error"

    def __init__(self, step, errno, message):
        self.step, self.errno, self.message = step, errno, message


class SeccompFd:
    """The notify fd of the process's seccomp filter (SCM_RIGHTS), for listenerPath."""
    kind = "seccomp-fd"

    def __init__(self, fd=None):
        self.fd = fd


class ConsoleFd:
    """The pty's master (SCM_RIGHTS), for --console-socket."""
    kind = "console-fd"

    def __init__(self, fd=None):
        self.fd = fd


class BindSourceFd:
    """A detached copy of mounts[index]'s source (SCM_RIGHTS), made by the
    parent in the init's mount namespace (mountfd.clone_in_mount_namespace_of)."""
    kind = "bind-source-fd"

    def __init__(self, index, fd=None):
        self.index, self.fd = index, fd


class Signal:
    """One of the messages without a payload (USERNS_READY...)."""

    def __init__(self, kind):
        self.kind = kind


_WITH_PAYLOAD = {cls.kind: cls for cls in (InitPid, InitReady, Error, SeccompFd, ConsoleFd, BindSourceFd)}


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

    # --- sending: one helper per message -----------------------------------

    def signal(self, kind):
        self._send({"type": kind})

    def send_init_pid(self, pid):
        self._send({"type": InitPid.kind, "pid": pid})

    def send_ready(self, warnings, notes=()):
        self._send({"type": InitReady.kind, "warnings": list(warnings), "notes": list(notes)})

    def send_error(self, step, errno, message):
        self._send({"type": Error.kind, "step": step, "errno": errno, "message": message})

    def send_seccomp_fd(self, fd):
        self._send({"type": SeccompFd.kind}, fd)

    def send_console_fd(self, fd):
        self._send({"type": ConsoleFd.kind}, fd)

    def send_bind_source_fd(self, index, fd):
        self._send({"type": BindSourceFd.kind, "index": index}, fd)

    def _send(self, fields, fd=None):
        data = jsonio.dumps(fields).encode()
        if fd is None:
            self.sock.send(data)
        else:
            self.sock.sendmsg([data], fd_rights(fd))

    # --- receiving ----------------------------------------------------------

    def receive(self):
        """The next message (InitPid, Signal, ...), or None when every peer has closed its end."""
        try:
            data, ancillary, _, _ = self.sock.recvmsg(_MAX_MESSAGE, _FD_SPACE)
        except ConnectionResetError:
            # The peer exited with a message of ours unread (a child that
            # failed before awaiting CGROUP_JOINED).  The kernel reports that
            # once, ahead of the packets the peer queued for us, its Error
            # among them: read on.
            data, ancillary, _, _ = self.sock.recvmsg(_MAX_MESSAGE, _FD_SPACE)
        if not data:
            return None
        fields = jsonio.loads(data)
        kind = fields.pop("type")
        for level, item, payload in ancillary:
            if level == _socket.SOL_SOCKET and item == _socket.SCM_RIGHTS:
                fields["fd"] = int.from_bytes(payload[:4], sys.byteorder)
        cls = _WITH_PAYLOAD.get(kind)
        return cls(**fields) if cls else Signal(kind)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()
