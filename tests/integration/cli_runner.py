"""Plumbing for integration tests: run the ocirun CLI against a temp --root and build bundles."""
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from ocirun.bundles import build_busybox_bundle

OCIRUN = os.environ.get("OCIRUN") or shutil.which("ocirun")

requires_root_and_ocirun = [
    pytest.mark.skipif(os.geteuid() != 0, reason="integration tests create real containers: run as root"),
    pytest.mark.skipif(not OCIRUN, reason="no ocirun command: install it or set OCIRUN"),
]


class Runtime:
    """ocirun with one --root; output comes back through files, not pipes: a
    created container's init holds the caller's stdio, so a pipe never closes."""

    def __init__(self, root):
        self.root = str(root)

    def __call__(self, *args, stdin=subprocess.DEVNULL, timeout=60):
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            result = subprocess.run([OCIRUN, "--root", self.root, *args], stdin=stdin,
                                    stdout=out, stderr=err, text=True, timeout=timeout)
            out.seek(0)
            err.seek(0)
            result.stdout, result.stderr = out.read(), err.read()
        return result

    def ok(self, *args, **kwargs):
        result = self(*args, **kwargs)
        assert result.returncode == 0, f"ocirun {' '.join(args)}: {result.stderr}"
        return result

    def state(self, container_id):
        return json.loads(self.ok("state", container_id).stdout)

    def cleanup(self):
        if os.path.isdir(self.root):
            for container_id in os.listdir(self.root):
                self("delete", "-f", container_id)


def make_bundle(tmp_path, args, edit=None):
    """A busybox bundle running `args`; `edit(config)` may change its config dict."""
    bundle = build_busybox_bundle(str(tmp_path / f"bundle-{uuid.uuid4().hex[:8]}"), args=args)
    if edit:
        path = os.path.join(bundle, "config.json")
        with open(path) as f:
            config = json.load(f)
        edit(config)
        with open(path, "w") as f:
            json.dump(config, f)
    return bundle


def cgroup_dirs(container_id):
    """The container's cgroup directories that exist, in every hierarchy."""
    found = []
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        path = os.path.join("/sys/fs/cgroup", hierarchy, "ocirun", container_id)
        if os.path.isdir(path):
            found.append(path)
    return found
