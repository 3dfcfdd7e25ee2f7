"""The systemd driver's names and conversions, as runc makes them."""
import pytest

from ocirun.cgroups import systemd
from ocirun.config import Resources
from ocirun.errors import ConfigError


@pytest.mark.parametrize("slice_name, path", [
    ("system.slice", "/system.slice"),
    ("machine-libpod.slice", "/machine.slice/machine-libpod.slice"),
    ("a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"),
    ("-.slice", "/"),
])
def test_expand_slice(slice_name, path):
    assert systemd.expand_slice(slice_name) == path


@pytest.mark.parametrize("slice_name", ["a--b.slice", "-a.slice", "a.scope", "a/b.slice"])
def test_bad_slices(slice_name):
    with pytest.raises(ConfigError):
        systemd.expand_slice(slice_name)


def test_unit_and_slice():
    assert systemd.unit_and_slice("machine.slice:libpod:abc", "id") == ("libpod-abc.scope", "machine.slice")
    assert systemd.unit_and_slice(":crio:abc", "id") == ("crio-abc.scope", "system.slice")
    assert systemd.unit_and_slice("", "abc") == ("ocirun-abc.scope", "system.slice")
    with pytest.raises(ConfigError, match="is not slice:prefix:name"):
        systemd.unit_and_slice("/a/b", "id")


def test_cpu_mask_bits_are_little_endian():
    assert systemd.cpu_mask("0") == b"\x01"
    assert systemd.cpu_mask("0-7,9") == b"\xff\x02"
    assert systemd.cpu_mask("1,3") == b"\x0a"


def test_quota_per_second_rounds_up_to_10ms():
    props = dict((name, value) for name, _sig, value in systemd.resource_properties(
        Resources({"cpu": {"quota": 12345, "period": 100000}}), unified=True))
    assert props["CPUQuotaPerSecUSec"] == 130000 and props["CPUQuotaPeriodUSec"] == 100000


def test_unlimited_is_infinity_and_names_follow_the_version():
    v1 = dict((n, v) for n, _s, v in systemd.resource_properties(
        Resources({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"shares": 512}}), unified=False))
    assert v1 == {"MemoryLimit": 2 ** 64 - 1, "TasksMax": 2 ** 64 - 1, "CPUShares": 512}
    v2 = dict((n, v) for n, _s, v in systemd.resource_properties(
        Resources({"memory": {"limit": 1 << 30, "swap": 2 << 30}, "cpu": {"shares": 1024}}), unified=True))
    assert v2 == {"MemoryMax": 1 << 30, "MemorySwapMax": 1 << 30, "CPUWeight": 39}


def test_zero_means_unset_for_the_properties_too():
    """Docker's zeros: no MemoryLimit=0 (an OOM at once), no BlockIOWeight=0
    (out of systemd's range), no swap check on a limit that is not set."""
    zeros = Resources({"memory": {"limit": 0, "reservation": 0, "swap": 0}, "pids": {"limit": 0},
                       "cpu": {"shares": 0, "quota": 0, "period": 0}, "blockIO": {"weight": 0}})
    assert systemd.resource_properties(zeros, unified=False) == []
    assert systemd.resource_properties(zeros, unified=True) == []
