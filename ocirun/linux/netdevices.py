"""linux.netDevices: move host network interfaces into the container's
network namespace (config-linux.md "Network Devices"), renamed when asked,
with their permanent global addresses, and set up.

The parent does it with pyroute2 once the init, and so its network
namespace, exists.  pyroute2 takes ~150 ms to import, so only a config with
netDevices imports this module's users of it.
"""
import os

from ocirun import _sys
from ocirun.errors import ConfigError, OcirunError

_IFA_F_PERMANENT = 0x80
_RT_SCOPE_UNIVERSE = 0


def check(config):
    """Before any fork: what the config alone can tell."""
    if not config.net_devices:
        return
    if not config.namespace("network"):
        raise ConfigError("config.json: linux.netDevices: moving devices needs a network namespace")
    targets = {}
    for host_name, name in config.net_devices.items():
        target = name or host_name
        if "%d" not in target and target in targets:
            raise ConfigError(f"config.json: linux.netDevices: {host_name} and {targets[target]}"
                              f" would both be {target!r} in the container")
        targets[target] = host_name
    from pyroute2 import IPRoute
    with IPRoute() as host:
        for host_name in config.net_devices:
            if not host.link_lookup(ifname=host_name):
                raise OcirunError(f"linux.netDevices: {host_name}: no such network device on the host")


def move_into(net_devices, netns_path):
    """Move each device into the network namespace at netns_path; parent side."""
    from pyroute2 import IPRoute
    target_ns = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    own_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        moved = []
        with IPRoute() as host:
            for host_name, name in net_devices.items():
                moved.append(_move_one(host, host_name, name or host_name, target_ns))
        # A netlink socket belongs to the namespace it is made in: make one
        # there, then come back (setns changes only this thread).
        _sys.setns(target_ns, _sys.CLONE_NEWNET, netns_path)
        try:
            inside = IPRoute()
        finally:
            _sys.setns(own_ns, _sys.CLONE_NEWNET, "the runtime's own network namespace")
        with inside:
            for link, addresses, host_name in moved:
                _restore_inside(inside, link, addresses, host_name)
    finally:
        os.close(target_ns)
        os.close(own_ns)


def _move_one(host, host_name, target_name, target_ns):
    found = host.link_lookup(ifname=host_name)
    if not found:
        raise OcirunError(f"linux.netDevices: {host_name}: no such network device on the host")
    index = found[0]
    link = host.get_links(index)[0]
    addresses = [(a["family"], a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                 for a in host.get_addr(index=index)
                 if _flags(a) & _IFA_F_PERMANENT and a["scope"] == _RT_SCOPE_UNIVERSE]
    try:
        # one request: the kernel moves it, then renames it there (%d included)
        host.link("set", index=index, net_ns_fd=target_ns, ifname=target_name)
    except Exception as e:  # pyroute2's NetlinkError carries the errno as .code
        raise OcirunError(f"linux.netDevices: move {host_name} into the container as {target_name}:"
                          f" {_netlink_message(e)}") from None
    return link, addresses, host_name


def _restore_inside(inside, link, addresses, host_name):
    index = _find_moved(inside, link)
    if index is None:
        raise OcirunError(f"linux.netDevices: {host_name}: not found in the container after the move")
    for family, address, prefixlen in addresses:
        try:
            inside.addr("add", index=index, address=address, prefixlen=prefixlen, family=family)
        except Exception as e:
            raise OcirunError(f"linux.netDevices: {host_name}: add {address}/{prefixlen}:"
                              f" {_netlink_message(e)}") from None
    inside.link("set", index=index, state="up")


def _find_moved(inside, link):
    """The device's index in the container: the kernel keeps the index unless
    it is taken there, and always the hardware address."""
    mac = link.get_attr("IFLA_ADDRESS")
    by_mac = None
    for candidate in inside.get_links():
        if mac and candidate.get_attr("IFLA_ADDRESS") == mac:
            if candidate["index"] == link["index"]:
                return candidate["index"]
            by_mac = by_mac or candidate["index"]
    if by_mac is not None:
        return by_mac
    still = [c for c in inside.get_links() if c["index"] == link["index"]]
    return still[0]["index"] if still else None


def _flags(address_message):
    return address_message.get_attr("IFA_FLAGS") or address_message["flags"]


def _netlink_message(error):
    code = getattr(error, "code", None)
    return os.strerror(code) if isinstance(code, int) and code > 0 else str(error)
