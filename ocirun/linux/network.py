"""Network setup inside a new network namespace: bring up loopback.

Two ioctls on a throwaway socket rather than netlink, so the start path never
imports pyroute2 (400 ms); _socket rather than socket for the same reason.
"""
import _socket
import fcntl
import sys

from ocirun import _sys

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFNAMSIZ = 16


def bring_up_loopback():
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        # struct ifreq: the name, then a short of flags (native byte order)
        name = b"lo".ljust(_IFNAMSIZ, b"\0")
        reply = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, name + bytes(24))
        flags = int.from_bytes(reply[_IFNAMSIZ:_IFNAMSIZ + 2], sys.byteorder) | _IFF_UP
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, name + flags.to_bytes(2, sys.byteorder) + bytes(22))
    except OSError as e:
        raise _sys.SyscallError(e.errno, e.strerror, "bring up loopback") from None
    finally:
        sock.close()
