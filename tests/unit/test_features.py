"""`ocirun features`: valid against spec/features-schema.json, and saying what
ocirun actually does."""
import json
import subprocess
import sys

from test_schema import reference_validator

from ocirun import features
from ocirun.linux import seccomp
from ocirun.linux.mountopts import MountOptions


def test_document_is_valid_against_the_features_schema():
    errors = list(reference_validator("features-schema.json").iter_errors(features.document()))
    assert errors == []


def test_it_lists_what_the_implementation_handles():
    document = features.document()
    assert document["ociVersionMax"] == "1.3.0"
    assert document["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                                 "poststart", "poststop"]
    # every listed mount option is one ocirun interprets, not filesystem data
    for option in document["mountOptions"]:
        fs_type = "tmpfs" if option == "tmpcopyup" else "none"
        parsed = MountOptions([option, "bind"] if option in ("idmap", "ridmap") else [option], "mounts[0]", fs_type)
        assert parsed.data is None, option
    linux = document["linux"]
    assert set(linux["seccomp"]["actions"]) == set(seccomp.ACTIONS)
    assert set(linux["seccomp"]["supportedFlags"]) <= set(linux["seccomp"]["knownFlags"])
    assert len(linux["namespaces"]) == 8 and "CAP_CHECKPOINT_RESTORE" in linux["capabilities"]


def test_cli_prints_it_as_json(tmp_path):
    # cwd elsewhere than the source tree, so the installed package is the one imported
    out = subprocess.run([sys.executable, "-c", "from ocirun.cli import main; main()", "features"],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert json.loads(out) == features.document()
