"""linux.netDevices: host interfaces moved into the container's network
namespace.  Each test makes a veth pair whose peer lives in a network
namespace of its own, so nothing is connected to the host's network, and the
addresses are from the documentation ranges (192.0.2.0/24, 2001:db8::/32)."""
import subprocess
import uuid

import pytest

from helpers import create_fails_cleanly, leftovers, sh


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@pytest.fixture
def veth():
    """The host end's name; its peer is in a throwaway namespace."""
    suffix = uuid.uuid4().hex[:6]
    host_end, netns = f"ocit{suffix}", f"ocirun-test-{suffix}"
    ip("netns", "add", netns)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", "peer0", "netns", netns)
        ip("addr", "add", "192.0.2.10/24", "dev", host_end)
        ip("addr", "add", "2001:db8::10/64", "dev", host_end, "nodad")
        yield host_end, netns
    finally:
        ip("link", "del", host_end, check=False)
        ip("netns", "del", netns, check=False)


def test_device_is_moved_renamed_up_and_keeps_its_addresses(runtime, bundle, veth):
    host_end, _ = veth
    bundle.linux["netDevices"] = {host_end: {"name": "eth7"}}
    out = runtime.output(bundle, sh("ip -o link show eth7; ip -o addr show eth7"))
    link_line = out.splitlines()[0]
    assert ",UP" in link_line
    assert "inet 192.0.2.10/24" in out and "inet6 2001:db8::10/64" in out
    assert ip("link", "show", host_end, check=False).returncode != 0, "still on the host"


def test_without_a_name_the_host_name_is_kept(runtime, bundle, veth):
    host_end, _ = veth
    bundle.linux["netDevices"] = {host_end: {}}
    assert host_end in runtime.output(bundle, ["ip", "-o", "link", "show", host_end])


def test_a_percent_d_template_gets_a_free_name(runtime, bundle, veth):
    host_end, _ = veth
    bundle.linux["netDevices"] = {host_end: {"name": "lo%d"}}  # lo is taken, lo0 is free
    assert "lo0" in runtime.output(bundle, ["ip", "-o", "link", "show", "lo0"])


def test_a_name_taken_in_the_container_is_an_error(runtime, bundle, veth):
    host_end, netns = veth
    bundle.add_namespace("network", f"/var/run/netns/{netns}")
    bundle.linux["netDevices"] = {host_end: {"name": "peer0"}}
    create_fails_cleanly(runtime, bundle.set_args(["true"]),
                         f"move {host_end} into the container as peer0: File exists")


def test_missing_device_fails_create_before_anything_runs(runtime, bundle):
    bundle.linux["netDevices"] = {"ocirun-nosuch": {}}
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle.set_args(["true"]), cid)
    assert result.returncode == 1
    assert result.stderr.strip() == "ocirun: linux.netDevices: ocirun-nosuch: no such network device on the host"
    assert leftovers(runtime, cid) == []


def test_net_devices_need_a_network_namespace(runtime, bundle, veth):
    host_end, _ = veth
    bundle.remove_namespace("network")
    bundle.linux["netDevices"] = {host_end: {}}
    create_fails_cleanly(runtime, bundle.set_args(["true"]), "needs a network namespace")
    assert ip("link", "show", host_end).returncode == 0
