"""The default config.json: valid against the official schema, runc-shaped."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from ocirun import OCI_VERSION, specgen
from ocirun.config import default_config, plain_config
from ocirun.errors import OcirunError

SPEC_DIR = pathlib.Path(__file__).resolve().parents[2] / "spec"


@pytest.fixture(scope="module")
def config_validator():
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT4

    # The schemas have no $id and refer to each other as "defs.json#/...":
    # registering each under its file name resolves those relative refs.
    resources = [
        (path.name, referencing.Resource.from_contents(json.loads(path.read_text()), DRAFT4))
        for path in SPEC_DIR.glob("*.json")
    ]
    registry = referencing.Registry().with_resources(resources)
    schema = json.loads((SPEC_DIR / "config-schema.json").read_text())
    return jsonschema.Draft4Validator(schema, registry=registry)


def mount_destinations(config):
    return [mount["destination"] for mount in config["mounts"]]


def namespace_types(config):
    return [ns["type"] for ns in config["linux"]["namespaces"]]


def test_default_config_validates_against_the_official_schema(config_validator):
    config_validator.validate(default_config())


def test_validator_resolves_refs_into_other_schema_files(config_validator):
    # The namespace type enum lives in defs-linux.json; rejecting a bad one
    # proves the cross-file refs are followed, not silently skipped.
    config = default_config()
    config["linux"]["namespaces"].append({"type": "bogus"})
    assert not config_validator.is_valid(config)


def test_default_config_keeps_runc_defaults():
    config = default_config()
    process = config["process"]
    assert config["ociVersion"] == OCI_VERSION == "1.3.0"
    assert config["hostname"] == "ocirun"
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert process["args"] == ["sh"]
    assert process["noNewPrivileges"] is True
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert set(process["capabilities"]) == {"bounding", "effective", "permitted", "ambient"}
    assert process["capabilities"]["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert mount_destinations(config) == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                                          "/sys/fs/cgroup"]
    assert namespace_types(config) == ["pid", "network", "ipc", "uts", "mount"]
    assert "/proc/kcore" in config["linux"]["maskedPaths"]
    assert "/proc/sys" in config["linux"]["readonlyPaths"]


@pytest.mark.parametrize("rootless", [False, True])
def test_default_config_is_runcs(tmp_path, rootless):
    """`ocirun spec` writes what runc 1.1's `runc spec` writes, but for the
    hostname and the spec version."""
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc, the reference, is not installed")
    subprocess.run([runc, "spec", *(["--rootless"] if rootless else [])], cwd=tmp_path, check=True)
    runcs = json.loads((tmp_path / "config.json").read_text())
    ours = default_config(rootless=rootless)
    for config in (runcs, ours):
        del config["ociVersion"], config["hostname"]
    assert ours == runcs


def test_plain_config_is_for_a_bundle_without_a_console():
    config = plain_config()
    assert config["process"]["terminal"] is False
    assert "ambient" not in config["process"]["capabilities"]
    assert "/sys/fs/cgroup" not in mount_destinations(config)
    assert "resources" not in config["linux"]


def test_args_override(config_validator):
    args = ["/bin/echo", "hello"]
    config = default_config(args)
    assert config["process"]["args"] == ["/bin/echo", "hello"]
    args.append("changed")
    assert config["process"]["args"] == ["/bin/echo", "hello"]
    config_validator.validate(config)


def test_each_call_returns_an_independent_config():
    first = default_config()
    first["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    first["mounts"][0]["options"] = ["ro"]
    second = default_config()
    assert "CAP_SYS_ADMIN" not in second["process"]["capabilities"]["bounding"]
    assert "options" not in second["mounts"][0]


def test_rootless_config(config_validator):
    config = default_config(rootless=True)
    config_validator.validate(config)
    linux = config["linux"]
    assert namespace_types(config) == ["pid", "ipc", "uts", "mount", "user"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    mounts = {mount["destination"]: mount for mount in config["mounts"]}
    assert "gid=5" not in mounts["/dev/pts"]["options"]
    assert mounts["/sys"]["type"] == "none"
    assert mounts["/sys"]["source"] == "/sys"
    assert "rbind" in mounts["/sys"]["options"]
    assert "ro" in mounts["/sys"]["options"]


def test_rootless_does_not_change_the_default_config():
    default_config(rootless=True)
    assert "user" not in namespace_types(default_config())


def test_write_spec_writes_the_default_config(tmp_path):
    path = specgen.write_spec(tmp_path)
    assert pathlib.Path(path) == tmp_path / "config.json"
    assert json.loads((tmp_path / "config.json").read_text()) == default_config()


def test_write_spec_rootless(tmp_path):
    specgen.write_spec(tmp_path, rootless=True)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written == default_config(rootless=True)


def test_write_spec_refuses_an_existing_config(tmp_path):
    existing = tmp_path / "config.json"
    existing.write_text("{}")
    with pytest.raises(OcirunError) as caught:
        specgen.write_spec(tmp_path)
    assert str(caught.value) == f"config.json already exists in {tmp_path}"
    assert existing.read_text() == "{}"
