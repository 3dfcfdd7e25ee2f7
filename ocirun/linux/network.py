"""Network setup inside a new network namespace: bring up loopback.

Done with two ioctls rather than netlink, so the start path never imports
pyroute2."""
import fcntl
import socket
import struct

from ocirun import _sys

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def bring_up_loopback():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            request = struct.pack("16sh", b"lo", 0)
            flags = struct.unpack("16sh", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))
        except OSError as e:
            raise _sys.SyscallError(e.errno, e.strerror, "bring up loopback") from None
