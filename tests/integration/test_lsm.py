"""AppArmor and SELinux fields on a host without either LSM (this kernel has
neither): ocirun does what runc does, as the spec leaves it to the runtime."""
import pytest

from helpers import leftovers
from ocirun.linux import lsm

no_apparmor = pytest.mark.skipif(lsm.apparmor_enabled(), reason="AppArmor is enabled on this host")
no_selinux = pytest.mark.skipif(lsm.selinux_enabled(), reason="SELinux is enabled on this host")


@pytest.mark.parametrize("field, value, lsm_name", [
    pytest.param("apparmorProfile", "docker-default", "AppArmor", marks=no_apparmor),
    pytest.param("selinuxLabel", "system_u:system_r:container_t:s0:c1,c2", "SELinux", marks=no_selinux),
])
def test_process_label_without_its_lsm_fails_create(runtime, bundle, field, value, lsm_name):
    """Running unconfined while the config says confined would be worse than failing."""
    bundle.process[field] = value
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle.set_args(["true"]), cid)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"ocirun: config.json: process.{field}: {value!r}:"
                                     f" {lsm_name} is not enabled on this host")
    assert leftovers(runtime, cid) == []


@no_selinux
def test_mount_label_without_selinux_is_ignored(runtime, bundle):
    """It only says how files on the mounts are labelled, which a host without
    SELinux does not do; runc ignores it there too."""
    bundle.linux["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2"
    assert runtime.output(bundle, ["echo", "ran"]).strip() == "ran"


def test_empty_labels_are_not_a_request(runtime, bundle):
    bundle.process["apparmorProfile"] = ""
    bundle.process["selinuxLabel"] = ""
    assert runtime.output(bundle, ["echo", "ran"]).strip() == "ran"
