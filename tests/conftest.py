"""Shared pytest setup: the markers, and the ocirun command the integration tests drive.

The integration tests run the CLI as a subprocess: `$OCIRUN` when set (a path,
possibly a wrapper script such as `PYTHONPATH=/work/main exec python3 -m ocirun.cli "$@"`),
else `ocirun` on PATH.  Without root or without that command they are skipped,
with the reason in the skip and in the session header.
"""
import os
import shlex
import shutil

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: runs real containers; needs root and the ocirun command")
    config.addinivalue_line("markers", "engines: drives ocirun through a container engine (podman, containerd, docker)")
    config.addinivalue_line("markers", "cgroupv2: needs a cgroup v2 (unified) host, e.g. under vng")


def find_ocirun_command():
    """(argv prefix, None) for the command to run, or (None, why it cannot run)."""
    if os.geteuid() != 0:
        return None, "integration tests need root (they create namespaces, mounts and cgroups)"
    configured = os.environ.get("OCIRUN")
    if configured:
        argv = shlex.split(configured)
        path = shutil.which(argv[0]) if argv else None
        if not path:
            return None, f"$OCIRUN={configured!r} is not an executable file"
        return [path] + argv[1:], None
    path = shutil.which("ocirun")
    if not path:
        return None, "no ocirun command: set $OCIRUN to its path (or a wrapper script) or put ocirun on PATH"
    return [path], None


def pytest_report_header(config):
    argv, why_not = find_ocirun_command()
    if argv:
        return f"ocirun command: {shlex.join(argv)}"
    return f"ocirun integration tests WILL BE SKIPPED: {why_not}"


@pytest.fixture(scope="session")
def ocirun_command():
    """The argv prefix that runs ocirun; skips the test (loudly) when there is none."""
    argv, why_not = find_ocirun_command()
    if argv is None:
        pytest.skip(f"ocirun integration tests skipped: {why_not}")
    return argv
