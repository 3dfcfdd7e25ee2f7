"""rootless.py's decisions, as runc makes them: when rootless mode applies,
and where the state goes."""
import pytest

from ocirun import rootless


@pytest.mark.parametrize("euid, in_userns, user, xdg, expected", [
    (0, False, "root", "/run/user/0", "/run/ocirun"),        # the host's root keeps /run/ocirun
    (0, False, "root", None, "/run/ocirun"),
    (1000, False, "me", "/run/user/1000", "/run/user/1000/ocirun"),
    (1000, False, "me", None, "/run/ocirun"),                # nowhere else to go: the error says so
    (0, True, "me", "/run/user/1000", "/run/user/1000/ocirun"),  # podman rootless
    (0, True, "root", "/run/user/0", "/run/ocirun"),
])
def test_default_state_root(monkeypatch, euid, in_userns, user, xdg, expected):
    monkeypatch.setattr(rootless.os, "geteuid", lambda: euid)
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: in_userns)
    monkeypatch.setenv("USER", user)
    if xdg is None:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", xdg)
    assert rootless.default_state_root() == expected


@pytest.mark.parametrize("flag, euid, in_userns, expected", [
    ("true", 0, False, True), ("false", 1000, False, False), ("auto", 0, False, False),
    ("auto", 1000, False, True), ("auto", 0, True, True),
])
def test_resolve(monkeypatch, flag, euid, in_userns, expected):
    monkeypatch.setattr(rootless.os, "geteuid", lambda: euid)
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: in_userns)
    assert rootless.resolve(flag) is expected


def test_this_process_is_in_the_hosts_user_namespace():
    assert rootless.in_user_namespace() is False
