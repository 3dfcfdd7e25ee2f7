"""cgroup v2 files and the conversions from OCI's v1-shaped values (no root needed)."""
import pytest

from ocirun.cgroups.v2 import cpu_weight, io_weight, writes
from ocirun.config import Resources
from ocirun.errors import ConfigError


def files(raw):
    return [(name, value) for _, name, value, _ in writes(Resources(raw))]


def test_runcs_conversions():
    assert (cpu_weight(2), cpu_weight(1024), cpu_weight(262144)) == (1, 39, 10000)
    assert (io_weight(10), io_weight(500), io_weight(1000)) == (1, 4950, 10000)


def test_memory_swap_is_swap_alone():
    assert files({"memory": {"limit": 64, "swap": 96, "reservation": 32}}) == [
        ("memory.low", 32), ("memory.max", 64), ("memory.swap.max", 32)]
    assert files({"memory": {"limit": -1, "swap": -1}}) == [("memory.max", "max"), ("memory.swap.max", "max")]


def test_cpu_max_and_weight():
    assert files({"cpu": {"shares": 1024, "quota": 20000, "period": 50000, "cpus": "0"}}) == [
        ("cpu.weight", 39), ("cpu.max", "20000 50000"), ("cpuset.cpus", "0")]
    assert files({"cpu": {"period": 50000}}) == [("cpu.max", "max 50000")]


def test_io_and_pids():
    assert files({"pids": {"limit": -1}, "blockIO": {"weight": 500, "throttleWriteIOPSDevice": [
        {"major": 8, "minor": 0, "rate": 100}]}}) == [
        ("pids.max", "max"), ("io.weight", "default 4950"), ("io.max", "8:0 wiops=100")]


@pytest.mark.parametrize("raw, field", [
    ({"memory": {"swappiness": 10}}, "memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, "memory.disableOOMKiller"),
    ({"memory": {"swap": 100}}, "memory.swap"),
    ({"memory": {"limit": 200, "swap": 100}}, "memory.swap"),
    ({"cpu": {"realtimeRuntime": 1000}}, "cpu.realtimeRuntime"),
    ({"blockIO": {"leafWeight": 10}}, "blockIO.leafWeight"),
])
def test_what_v2_cannot_do_is_an_error_naming_the_field(raw, field):
    with pytest.raises(ConfigError, match=f"linux.resources.{field}"):
        writes(Resources(raw))
