"""The busybox bundle builder, checked on disk and by the reference runtime."""
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid

import pytest

from ocirun import bundles
from ocirun.errors import OcirunError


@pytest.fixture(scope="module")
def static_busybox():
    try:
        return bundles.find_busybox()
    except OcirunError as error:
        pytest.skip(str(error))


def build(tmp_path, static_busybox, args=None):
    return bundles.build_busybox_bundle(str(tmp_path / "bundle"), args=args, busybox=static_busybox)


def test_rootfs_has_the_standard_tree(tmp_path, static_busybox):
    rootfs = os.path.join(build(tmp_path, static_busybox), "rootfs")
    for name in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev",
                 "tmp", "root", "home", "var", "run"):
        assert os.path.isdir(os.path.join(rootfs, name)), name
    assert stat.S_IMODE(os.stat(os.path.join(rootfs, "tmp")).st_mode) == 0o1777


def test_busybox_is_static_and_every_applet_is_linked(tmp_path, static_busybox):
    bin_dir = os.path.join(build(tmp_path, static_busybox), "rootfs", "bin")
    busybox = os.path.join(bin_dir, "busybox")
    assert bundles.is_static_elf(busybox)
    assert os.access(busybox, os.X_OK)
    applets = bundles.list_applets(static_busybox)
    assert {"sh", "echo", "true", "ls", "id"} <= set(applets)
    for applet in applets:
        assert os.path.samefile(os.path.join(bin_dir, applet), busybox), applet


def test_passwd_and_group(tmp_path, static_busybox):
    etc = os.path.join(build(tmp_path, static_busybox), "rootfs", "etc")
    with open(os.path.join(etc, "passwd")) as f:
        users = {line.split(":")[0]: line.split(":") for line in f.read().splitlines()}
    assert users["root"][2:4] == ["0", "0"]
    assert users["user"][2:4] == ["1000", "1000"]
    assert users["nobody"][2:4] == ["65534", "65534"]
    with open(os.path.join(etc, "group")) as f:
        groups = {line.split(":")[0]: line.split(":")[2] for line in f.read().splitlines()}
    assert groups["root"] == "0"
    assert groups["user"] == "1000"


def test_config_args(tmp_path, static_busybox):
    bundle = build(tmp_path, static_busybox, args=["/bin/echo", "hello"])
    with open(os.path.join(bundle, "config.json")) as f:
        assert json.load(f)["process"]["args"] == ["/bin/echo", "hello"]


def test_config_args_default_to_sh(tmp_path, static_busybox):
    bundle = build(tmp_path, static_busybox)
    with open(os.path.join(bundle, "config.json")) as f:
        assert json.load(f)["process"]["args"] == ["sh"]


def test_refuses_an_existing_rootfs(tmp_path, static_busybox):
    bundle = build(tmp_path, static_busybox)
    with pytest.raises(OcirunError, match="rootfs already exists in"):
        bundles.build_busybox_bundle(bundle, busybox=static_busybox)


def test_dynamic_busybox_is_refused_with_an_install_hint(tmp_path):
    # The interpreter running the tests is a dynamically linked ELF.
    assert not bundles.is_static_elf(sys.executable)
    with pytest.raises(OcirunError, match="apt-get install busybox-static"):
        bundles.build_busybox_bundle(str(tmp_path / "bundle"), busybox=sys.executable)


def test_missing_busybox_is_reported_with_an_install_hint(monkeypatch):
    monkeypatch.delenv("OCIRUN_BUSYBOX", raising=False)
    monkeypatch.setattr(bundles, "BUSYBOX_CANDIDATES", ("/nonexistent/busybox",))
    with pytest.raises(OcirunError, match="apt-get install busybox-static"):
        bundles.find_busybox()


def test_env_variable_chooses_the_busybox(monkeypatch, static_busybox):
    monkeypatch.setenv("OCIRUN_BUSYBOX", "/nonexistent/busybox")
    with pytest.raises(OcirunError, match="/nonexistent/busybox"):
        bundles.find_busybox()
    monkeypatch.setenv("OCIRUN_BUSYBOX", static_busybox)
    assert bundles.find_busybox() == static_busybox


def test_command_line_builds_a_bundle(tmp_path, static_busybox):
    bundle = tmp_path / "cli-bundle"
    status = bundles.main(["busybox", str(bundle), "--busybox", static_busybox, "--", "ls", "-l"])
    assert status == 0
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["ls", "-l"]


@pytest.mark.skipif(os.geteuid() != 0, reason="runc run of a rootful bundle needs root")
@pytest.mark.skipif(shutil.which("runc") is None, reason="runc (the reference runtime) is not installed")
def test_runc_runs_the_built_bundle(tmp_path, static_busybox):
    bundle = build(tmp_path, static_busybox, args=["/bin/echo", "hello"])
    container_id = f"ocirun-test-{uuid.uuid4().hex[:12]}"
    result = subprocess.run(
        ["runc", "--root", str(tmp_path / "runc-root"), "run", container_id],
        cwd=bundle, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"
