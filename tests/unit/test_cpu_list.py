import pytest

from ocirun.errors import ConfigError
from ocirun.linux.scheduling import parse_list


@pytest.mark.parametrize("text, cpus", [
    ("0", {0}), ("0-3,7", {0, 1, 2, 3, 7}), ("1, 3-4", {1, 3, 4}), ("2-2", {2}), ("0,,1", {0, 1}),
])
def test_cpu_lists(text, cpus):
    assert parse_list(text, "f") == cpus


@pytest.mark.parametrize("text", ["", " ", "-", "1-", "-3", "3-1", "a", "1-2-3"])
def test_bad_cpu_lists_name_the_field(text):
    with pytest.raises(ConfigError, match="config.json: process.execCPUAffinity.final"):
        parse_list(text, "process.execCPUAffinity.final")
