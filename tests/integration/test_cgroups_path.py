"""linux.cgroupsPath: where the container's cgroup is, in every hierarchy,
and what delete removes (its cgroup, and the parents create made for it)."""
import os
import uuid

import pytest

from helpers import CGROUP_ROOT, mounted_cgroups_of, unified_only

# the v1 hierarchies, or on cgroup v2 the one, at the root itself
HIERARCHIES = [""] if unified_only() else \
    sorted(h for h in os.listdir(CGROUP_ROOT) if os.path.isfile(os.path.join(CGROUP_ROOT, h, "cgroup.procs")))


def existing(path):
    """The hierarchies in which cgroup `path` exists."""
    return [h for h in HIERARCHIES if os.path.isdir(os.path.join(CGROUP_ROOT, h, path.lstrip("/")))]


@pytest.fixture
def top():
    """A top-level cgroup name of the test's own, removed (with whatever is left) at the end."""
    name = f"ocirun-test-{uuid.uuid4().hex[:8]}"
    yield name
    for hierarchy in HIERARCHIES:
        for dirpath, _, _ in sorted(os.walk(os.path.join(CGROUP_ROOT, hierarchy, name)), reverse=True):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


@pytest.mark.parametrize("form", ["/{top}/app", "{top}/a/b"], ids=["absolute", "relative"])
def test_the_init_is_there_and_delete_removes_what_create_made(runtime, bundle, top, form):
    path = "/" + form.format(top=top).lstrip("/")
    bundle.linux["cgroupsPath"] = form.format(top=top)
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    pid = runtime.state(cid)["pid"]
    assert set(mounted_cgroups_of(pid).values()) == {path}
    assert existing(path) == HIERARCHIES
    runtime.delete(cid, force=True)
    assert existing(top) == []


def test_a_parent_that_existed_stays(runtime, bundle, top):
    for hierarchy in HIERARCHIES:
        os.mkdir(os.path.join(CGROUP_ROOT, hierarchy, top))
    bundle.linux["cgroupsPath"] = f"/{top}/app"
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "100"]))
    runtime.delete(cid, force=True)
    assert existing(f"/{top}/app") == [] and existing(top) == HIERARCHIES


def test_a_parent_another_container_lives_in_stays(runtime, bundle, top):
    first, second = runtime.new_id(), runtime.new_id()
    bundle.linux["cgroupsPath"] = f"/{top}/shared/one"
    runtime.create(first, bundle.set_args(["sleep", "100"]))
    bundle.linux["cgroupsPath"] = f"/{top}/shared/two"
    runtime.create(second, bundle)
    runtime.delete(first, force=True)
    assert existing(f"/{top}/shared/two") == HIERARCHIES
    runtime.delete(second, force=True)
