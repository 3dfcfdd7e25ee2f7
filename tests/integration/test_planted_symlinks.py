"""Symlinks planted in the image must never lead ocirun to a host path:
device nodes, masked and read-only paths and tmpcopyup all resolve inside
the rootfs.  (Mount destinations: see
test_container_setup.py.)"""
import os

import pytest

from helpers import sh

# absolute, relative climbing out, and a chain of links
ESCAPES = {
    "absolute": lambda host: [("link", str(host))],
    "dotdot": lambda host: [("link", "../../../../../../../.." + str(host))],
    "chain": lambda host: [("link", "/hop1"), ("hop1", "./hop2"), ("hop2", "../../.." + str(host))],
}


def plant(rootfs, links):
    for name, target in links:
        os.symlink(target, os.path.join(rootfs, name))


@pytest.mark.parametrize("kind", ESCAPES)
def test_device_through_a_planted_symlink_stays_in_the_rootfs(runtime, bundle, host_dir, kind):
    plant(bundle.rootfs, ESCAPES[kind](host_dir))
    bundle.linux["devices"] = [{"path": "/link/null2", "type": "c", "major": 1, "minor": 3,
                                "fileMode": 0o666, "uid": 0, "gid": 0}]
    runtime.output(bundle, ["true"])
    assert os.listdir(host_dir) == [], "a device node was made outside the rootfs"


@pytest.mark.parametrize("kind", ESCAPES)
def test_masked_and_readonly_paths_through_planted_symlinks_stay_inside(runtime, bundle, host_dir, kind):
    (host_dir / "secret").write_text("host data\n")
    plant(bundle.rootfs, ESCAPES[kind](host_dir))
    inside = os.path.join(bundle.rootfs, str(host_dir).lstrip("/"))
    os.makedirs(inside)
    with open(os.path.join(inside, "secret"), "w") as f:
        f.write("image data\n")
    bundle.linux["maskedPaths"] = ["/link/secret"]
    bundle.linux["readonlyPaths"] = ["/link"]
    out = runtime.output(bundle, sh(f"cat {host_dir}/secret | wc -c; touch {host_dir}/new 2>&1 | grep -o Read-only"))
    assert out.split() == ["0", "Read-only"]  # the image's copy was masked and made read-only
    # the host's directory was neither masked nor remounted read-only
    assert (host_dir / "secret").read_text() == "host data\n"
    (host_dir / "still-writable").write_text("ok")


def test_tmpcopyup_of_a_planted_symlink_copies_the_images_directory(runtime, bundle, host_dir):
    (host_dir / "host-only").write_text("x")
    plant(bundle.rootfs, ESCAPES["absolute"](host_dir))
    inside = os.path.join(bundle.rootfs, str(host_dir).lstrip("/"))
    os.makedirs(inside)
    with open(os.path.join(inside, "image-only"), "w") as f:
        f.write("y")
    bundle.add_mount("/link", "tmpfs", type="tmpfs", options=["tmpcopyup"])
    out = runtime.output(bundle, ["ls", str(host_dir)])
    assert out.split() == ["image-only"]
