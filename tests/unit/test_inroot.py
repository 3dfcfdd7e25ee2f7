"""inroot: paths of a rootfs opened through fds, as the container would resolve
them, with openat2 and with the component walk used where openat2 is missing.
No root needed: a tmp tree stands in for a rootfs."""
import os

import pytest

from ocirun.linux import inroot


@pytest.fixture(params=["openat2", "walk"])
def resolver(request, monkeypatch):
    """Run each test both ways."""
    monkeypatch.setattr(inroot, "_openat2_missing", request.param == "walk")
    return request.param


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "rootfs"
    (path / "etc").mkdir(parents=True)
    (path / "data").mkdir()
    (path / "etc" / "hosts").write_text("image\n")
    return path


@pytest.fixture
def root_fd(root):
    fd = inroot.open_root(str(root))
    yield fd
    os.close(fd)


@pytest.fixture
def host(tmp_path):
    """A host directory outside the root, which nothing may reach."""
    path = tmp_path / "host"
    path.mkdir()
    (path / "hosts").write_text("host\n")
    return path


def real_path(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_plain_path(resolver, root, root_fd):
    assert real_path(inroot.open_in_root(root_fd, "/etc/hosts")) == f"{root}/etc/hosts"


def test_absolute_symlink_starts_again_at_the_root(resolver, root, root_fd, host):
    os.symlink(str(host), root / "evil")  # the host's path, read as the container's
    os.makedirs(root / str(host).lstrip("/"))
    assert real_path(inroot.open_in_root(root_fd, "/evil")) == f"{root}{host}"
    with pytest.raises(FileNotFoundError):
        inroot.open_in_root(root_fd, "/evil/hosts")


def test_dotdot_never_climbs_above_the_root(resolver, root, root_fd):
    os.symlink("../../../../../../etc", root / "up")
    assert real_path(inroot.open_in_root(root_fd, "/up/hosts")) == f"{root}/etc/hosts"
    assert real_path(inroot.open_in_root(root_fd, "/../../etc")) == f"{root}/etc"


def test_symlink_loop_is_an_error(resolver, root, root_fd):
    os.symlink("/loop", root / "loop")
    with pytest.raises(OSError) as info:
        inroot.open_in_root(root_fd, "/loop/x")
    assert info.value.errno == 40  # ELOOP


def test_make_in_root_makes_directories_inside_through_symlinks(resolver, root, root_fd, host):
    os.symlink(str(host), root / "link")
    os.symlink("../../../..", root / "data" / "up")
    for path in ("/link/a/b", "/data/up/c/d"):
        os.close(inroot.make_in_root(root_fd, path))
    assert sorted(os.listdir(host)) == ["hosts"], "a directory was made outside the root"
    assert os.path.isdir(root / str(host).lstrip("/") / "a" / "b")
    assert os.path.isdir(root / "c" / "d")


def test_make_in_root_makes_a_file_mount_point(resolver, root, root_fd):
    fd = inroot.make_in_root(root_fd, "/etc/new/resolv.conf", kind="file")
    assert real_path(fd) == f"{root}/etc/new/resolv.conf"
    assert os.path.isfile(root / "etc" / "new" / "resolv.conf")


def test_a_file_on_the_way_is_not_a_directory(resolver, root, root_fd):
    with pytest.raises(NotADirectoryError):
        inroot.make_in_root(root_fd, "/etc/hosts/x")
