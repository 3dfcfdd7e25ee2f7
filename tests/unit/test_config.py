"""config.load: typed view, refusals of unimplemented fields, rules the schema cannot express."""
import json

import pytest

from ocirun import config
from ocirun.errors import ConfigError
from ocirun.config import default_config


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def write(bundle, raw):
    (bundle / "config.json").write_text(json.dumps(raw))
    return str(bundle)


def test_typed_view(bundle):
    raw = default_config(["/bin/echo", "hi"])
    raw["process"]["user"] = {"uid": 5, "gid": 6, "additionalGids": [7], "umask": 0o27}
    raw["annotations"] = {"org.example/unknown": "kept"}
    raw["x-unknown-property"] = {"accepted": True}
    loaded = config.load(write(bundle, raw))
    assert loaded.root_path == f"{bundle}/rootfs"
    assert loaded.process.args == ("/bin/echo", "hi")
    assert (loaded.process.uid, loaded.process.gid, loaded.process.additional_gids, loaded.process.umask) == \
        (5, 6, (7,), 0o27)
    assert loaded.namespace("pid").path is None and loaded.namespace("user") is None
    assert loaded.annotations == {"org.example/unknown": "kept"}
    with pytest.raises(AttributeError):
        loaded.hostname = "changed"


def test_hooks_are_typed_by_phase_and_empty_phases_dropped(bundle):
    raw = default_config()
    raw["hooks"] = {"prestart": [], "poststop": [{"path": "/bin/cleanup", "args": ["cleanup", "-f"],
                                                  "env": ["A=1"], "timeout": 3}]}
    hooks = config.load(write(bundle, raw)).hooks
    assert list(hooks) == ["poststop"]
    (hook,) = hooks["poststop"]
    assert (hook.path, hook.args, hook.env, hook.timeout) == ("/bin/cleanup", ("cleanup", "-f"), ("A=1",), 3)
    assert config.hooks_from_json({"poststop": [hook.to_json()]})["poststop"][0].args == hook.args


def test_relative_hook_path_is_refused(bundle):
    raw = default_config()
    raw["hooks"] = {"createRuntime": [{"path": "/bin/ok"}, {"path": "bin/setup"}]}
    with pytest.raises(ConfigError, match=r"hooks.createRuntime\[1\].path: 'bin/setup' is not an absolute path"):
        config.load(write(bundle, raw))


def test_schema_error_names_path_and_rule(bundle):
    raw = default_config()
    raw["process"]["args"] = "true"
    with pytest.raises(ConfigError) as info:
        config.load(write(bundle, raw))
    assert str(info.value) == 'config.json: process.args: "true" is not of type array'


@pytest.mark.parametrize("text, message", [
    ("{", "config.json: not valid JSON"),
])
def test_broken_json(bundle, text, message):
    (bundle / "config.json").write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load(str(bundle))


def test_missing_bundle_and_rootfs(tmp_path):
    with pytest.raises(ConfigError, match=f"bundle {tmp_path}/nope: no such directory"):
        config.load(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="config.json not found"):
        config.load(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(default_config()))
    with pytest.raises(ConfigError, match=f"root.path {tmp_path}/rootfs: no such directory"):
        config.load(str(tmp_path))


@pytest.mark.parametrize("change, message", [
    (lambda r: (r["linux"]["namespaces"].remove({"type": "mount"}), r["linux"].update(readonlyPaths=["/proc/sys"])),
     "linux.(masked|readonly)Paths: needs a mount namespace"),
    (lambda r: r["linux"]["namespaces"].append({"type": "pid"}), "duplicate namespace type 'pid'"),
    (lambda r: r["linux"]["namespaces"].remove({"type": "uts"}), "hostname: setting it needs a uts namespace"),
    (lambda r: r["linux"]["namespaces"].append({"type": "user"}), "a new user namespace needs uid and gid mappings"),
    (lambda r: r["process"].update(cwd="relative"), "process.cwd: 'relative' is not an absolute path"),
    (lambda r: r["mounts"].append({"destination": "rel", "type": "tmpfs", "source": "tmpfs"}),
     "destination: 'rel' is not an absolute path"),
])
def test_rules_beyond_the_schema(bundle, change, message):
    raw = default_config()
    change(raw)
    with pytest.raises(ConfigError, match=message):
        config.load(write(bundle, raw))


def test_a_device_mode_with_its_own_file_type_bits_is_accepted(bundle):
    """As podman writes it: st_mode of the host's node (0o20666 for /dev/zero)."""
    raw = default_config()
    raw["linux"]["devices"] = [{"path": "/dev/z", "type": "c", "major": 1, "minor": 5, "fileMode": 0o20666}]
    assert config.load(write(bundle, raw)).devices[0].file_mode == 0o666
    raw["linux"]["devices"][0]["fileMode"] = 0o60666  # a block device's bits on a char device
    with pytest.raises(ConfigError, match="fileMode"):
        config.load(write(bundle, raw))
