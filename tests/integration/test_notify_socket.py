"""NOTIFY_SOCKET as runc handles it (podman --sdnotify=container): the
container's READY=1 reaches the engine's socket, with the init's pid, and
start returns only then."""
import os
import shutil
import socket
import time

import pytest

from helpers import build_probe, sh


@pytest.fixture(scope="module")
def sd_notify(tmp_path_factory):
    return build_probe("sd_notify", tmp_path_factory.mktemp("probe"))


def test_ready_reaches_the_engines_socket(runtime, bundle, tmp_path, monkeypatch, sd_notify):
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    engine.bind(str(tmp_path / "engine.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "engine.sock"))
    shutil.copy(sd_notify, os.path.join(bundle.rootfs, "bin", "sd_notify"))
    bundle.set_args(sh("sleep 0.5; sd_notify STATUS=warming; sleep 0.3; sd_notify READY=1; sleep 100"))
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    started = time.monotonic()
    runtime.start(cid)
    waited = time.monotonic() - started
    engine.settimeout(5)
    message = engine.recv(4096).decode()
    assert message == f"READY=1\nMAINPID={runtime.state(cid)['pid']}\n"
    assert waited >= 0.7  # start waited for READY=1
    runtime.delete(cid, force=True)
    engine.close()


def test_without_ready_start_returns_when_the_init_exits(runtime, bundle, tmp_path, monkeypatch):
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    engine.bind(str(tmp_path / "engine.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "engine.sock"))
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["true"]))
    runtime.start(cid)
    engine.setblocking(False)
    try:
        engine.recv(4096)
        assert False, "nothing should have been forwarded"
    except BlockingIOError:
        pass
    runtime.delete(cid, force=True)
