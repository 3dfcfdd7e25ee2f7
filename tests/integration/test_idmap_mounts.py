"""Id-mapped bind mounts (config.md: the idmap and ridmap options, mounts'
uidMappings and gidMappings), seen from inside the container and on disk."""
import os

import pytest

from helpers import Bundle, add_user_namespace, create_fails_cleanly, sh

MOUNT_MAP_UID = [{"containerID": 0, "hostID": 1000, "size": 1}]
MOUNT_MAP_GID = [{"containerID": 0, "hostID": 1001, "size": 1}]


def idmapped_bind(bundle, destination, source, option="idmap", with_mappings=True, extra=(), kind="bind"):
    mount = bundle.add_mount(destination, source, options=[kind, option, *extra])
    if with_mappings:
        mount["uidMappings"] = MOUNT_MAP_UID
        mount["gidMappings"] = MOUNT_MAP_GID
    return mount


def test_mount_mappings_show_files_under_the_mapped_ids(runtime, bundle, host_dir):
    (host_dir / "f").write_text("data\n")  # owned by root on disk
    idmapped_bind(bundle, "/data", str(host_dir))
    out = runtime.output(bundle, sh("stat -c '%u:%g' /data/f; cat /data/f; grep ' /data ' /proc/self/mountinfo"))
    owner, content, mountinfo_line = out.splitlines()
    assert owner == "1000:1001" and content == "data"
    assert "idmapped" in mountinfo_line.split()[5]
    st = os.stat(host_dir / "f")
    assert (st.st_uid, st.st_gid) == (0, 0), "the files on disk were changed"


def test_mappings_without_an_option_mean_idmap(runtime, bundle, host_dir):
    (host_dir / "f").write_text("data\n")
    mount = bundle.add_mount("/data", str(host_dir))
    mount["uidMappings"] = MOUNT_MAP_UID
    mount["gidMappings"] = MOUNT_MAP_GID
    assert runtime.output(bundle, sh("stat -c '%u:%g' /data/f")).strip() == "1000:1001"


@pytest.mark.parametrize("option, mapped_below", [("idmap", False), ("ridmap", True)])
def test_ridmap_maps_submounts_too(runtime, bundle, host_dir_with_submount, option, mapped_below):
    idmapped_bind(bundle, "/data", str(host_dir_with_submount), option=option, kind="rbind")
    out = runtime.output(bundle, sh("stat -c '%u' /data/sub/inner"))
    assert out.strip() == ("1000" if mapped_below else "0")


def test_idmap_takes_the_containers_user_namespace_mappings(runtime, public_dir):
    """Container root (host uid 100000) owns the host's root-owned files through
    the mount, and what it writes lands on disk as root's."""
    bundle = Bundle(os.path.join(public_dir, "bundle"), None)
    add_user_namespace(bundle)
    shared = os.path.join(public_dir, "shared")
    os.mkdir(shared, 0o755)
    with open(os.path.join(shared, "owned-by-root"), "w") as f:
        f.write("x")
    os.mkdir(os.path.join(bundle.rootfs, "shared"))
    idmapped_bind(bundle, "/shared", shared, with_mappings=False)
    out = runtime.output(bundle, sh("stat -c '%u:%g' /shared/owned-by-root; echo new > /shared/written"))
    assert out.strip() == "0:0"
    st = os.stat(os.path.join(shared, "written"))
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_readonly_idmapped_bind(runtime, bundle, host_dir):
    idmapped_bind(bundle, "/data", str(host_dir), extra=("ro",))
    out = runtime.output(bundle, sh("touch /data/x 2>&1; grep ' /data ' /proc/self/mountinfo | cut -d' ' -f6"))
    first, options = out.splitlines()
    assert "Read-only file system" in first
    assert {"ro", "idmapped"} <= set(options.split(","))


@pytest.mark.parametrize("edit, mentions", [
    (lambda b, d: idmapped_bind(b, "/data", d, with_mappings=False),
     "idmap needs the mount's uidMappings and gidMappings, or a new user namespace"),
    (lambda b, d: idmapped_bind(b, "/data", d).pop("gidMappings"), "uidMappings and gidMappings go together"),
    (lambda b, d: b.add_mount("/t", "tmpfs", type="tmpfs", options=["idmap"]), "idmap is for bind mounts"),
], ids=["no-mappings-anywhere", "uid-without-gid", "not-a-bind"])
def test_bad_idmap_mounts_fail_create(runtime, bundle, host_dir, edit, mentions):
    edit(bundle, str(host_dir))
    create_fails_cleanly(runtime, bundle, mentions)
