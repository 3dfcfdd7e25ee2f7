"""Rootless: ocirun run by an unprivileged user (setpriv to a uid with no
privilege at all), with the config `spec --rootless` writes, as runc 1.1.5
runs it on the same host.  Each test that must hold for runc too runs with
both (`as_user`); the rest say why they are ocirun's alone.

This host's cgroups are v1, which an unprivileged user cannot use: the
container then has no cgroup, as with runc.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from helpers import Bundle, Runtime, leftovers, sh, start_dbus_daemon, unified_only

# nobody: an account without any privilege (the kernel and ocirun need no
# account at all, but dbus-daemon looks a connecting uid's groups up)
USER = 65534


def chown_tree(path, uid):
    for directory, _, files in os.walk(path):
        os.chown(directory, uid, uid)
        for name in files:
            os.lchown(os.path.join(directory, name), uid, uid)


@pytest.fixture
def user_dir():
    """A directory the user owns, where the host's root reached it (pytest's
    tmp_path lies under a directory only root may enter), with `run` in it,
    0700: the user's $XDG_RUNTIME_DIR."""
    path = tempfile.mkdtemp(prefix="ocirun-rootless-")
    os.chmod(path, 0o755)
    os.mkdir(os.path.join(path, "run"), 0o700)
    chown_tree(path, USER)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_user_command(binary, user_dir, uid=USER):
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "env", "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"HOME={user_dir}",
            f"XDG_RUNTIME_DIR={os.path.join(user_dir, 'run')}", binary]


def runtime_as_user(binary, user_dir, uid=USER, before=()):
    """A Runtime that runs `binary` as the user (after the command `before`,
    when given), on a --root under its $XDG_RUNTIME_DIR."""
    return Runtime([*before, *as_user_command(binary, user_dir, uid)], os.path.join(user_dir, "run", "state"))


def remove_everything_checked(rt):
    """Force-delete what the test left, and fail on anything that stays."""
    problems = rt.remove_everything()
    for container_id in rt.ids:
        left = [item for item in leftovers(rt, container_id) if not item.startswith("state")]
        assert not left, f"{container_id} left {left}"
    assert not problems, problems


@pytest.fixture(params=["ocirun", "runc"])
def as_user(request, ocirun_command, user_dir):
    """ocirun, then runc 1.1.5, run by the unprivileged user, on a --root of its own."""
    binary = ocirun_command[-1] if request.param == "ocirun" else shutil.which("runc")
    if binary is None:
        pytest.skip("runc, the reference, is not installed")
    rt = runtime_as_user(binary, user_dir)
    yield rt
    remove_everything_checked(rt)


@pytest.fixture
def ocirun_as_user(ocirun_command, user_dir):
    rt = runtime_as_user(ocirun_command[-1], user_dir)
    yield rt
    remove_everything_checked(rt)


@pytest.fixture
def rootless_bundle(ocirun_command, user_dir):
    """A busybox bundle whose config.json is `ocirun spec --rootless`'s, made by the user."""
    path = os.path.join(user_dir, "bundle")
    bundle = Bundle(path, ["true"])
    os.unlink(bundle.config_path)
    chown_tree(path, USER)
    subprocess.run(as_user_command(ocirun_command[-1], user_dir)[:-1] + list(ocirun_command) +
                   ["spec", "--rootless", "--bundle", path], check=True, capture_output=True)
    with open(bundle.config_path) as f:
        bundle.config = json.load(f)
    bundle.process["terminal"] = False
    return bundle


def test_an_unprivileged_user_runs_a_container(as_user, rootless_bundle):
    rootless_bundle.set_args(sh("id -u; cat /proc/self/uid_map /proc/self/setgroups; stat -c '%t,%T' /dev/null"))
    result = as_user.run(as_user.new_id(), rootless_bundle)
    assert result.returncode == 0, result.stderr
    uid, uid_map, setgroups, null = result.stdout.splitlines()
    assert (uid, uid_map.split(), setgroups, null) == ("0", ["0", str(USER), "1"], "deny", "1,3")


def test_the_whole_lifecycle_with_state_under_xdg_runtime_dir(ocirun_command, user_dir, rootless_bundle):
    """No --root: the state goes to $XDG_RUNTIME_DIR/ocirun, the user's, 0700."""
    def ocirun(*args):
        # files, not pipes: the container keeps our stdio open
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            result = subprocess.run(as_user_command(ocirun_command[-1], user_dir) + list(args), stdout=out,
                                    stderr=err, stdin=subprocess.DEVNULL, timeout=30, cwd=rootless_bundle.path)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(args, result.returncode, out.read(), err.read())
    rootless_bundle.set_args(["sleep", "60"])
    rootless_bundle.save()
    try:
        assert ocirun("create", "life").returncode == 0
        state_dir = os.path.join(user_dir, "run", "ocirun")
        info = os.stat(state_dir)
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (USER, 0o700)
        assert ocirun("start", "life").returncode == 0
        assert ocirun("exec", "life", "sh", "-c", "echo in $(id -u)").stdout == "in 0\n"
        pid = json.loads(ocirun("state", "life").stdout)["pid"]
        assert ocirun("ps", "--format", "json", "life").stdout.strip() == f"[{pid}]"
        assert ocirun("kill", "--all", "life", "KILL").returncode == 0
        assert ocirun("delete", "life").returncode == 0 or ocirun("delete", "-f", "life").returncode == 0
        assert os.listdir(state_dir) == []
    finally:
        ocirun("delete", "-f", "life")


def test_resources_without_a_cgroup_are_named_and_nothing_is_left(ocirun_as_user, rootless_bundle):
    # ocirun's alone: runc 1.1.5 says "cannot set memory limit: container could not join or create cgroup"
    rootless_bundle.linux["resources"] = {"memory": {"limit": 64 << 20}}
    cid = ocirun_as_user.new_id()
    result = ocirun_as_user.run(cid, rootless_bundle)
    assert result.returncode == 1
    assert result.stderr.startswith("ocirun: config.json: linux.resources.memory: no cgroup") \
        and len(result.stderr.splitlines()) == 1, result.stderr
    assert not os.path.exists(os.path.join(ocirun_as_user.root, cid))


def test_resources_the_engines_send_as_unset_are_accepted(ocirun_as_user, rootless_bundle):
    rootless_bundle.linux["resources"] = {"memory": {"limit": 0}, "cpu": {"shares": 0},
                                          "devices": [{"allow": False, "access": "rwm"}]}
    result = ocirun_as_user.run(ocirun_as_user.new_id(), rootless_bundle)
    assert result.returncode == 0, result.stderr


def test_pause_and_stats_say_there_is_no_cgroup(ocirun_as_user, rootless_bundle):
    cid = ocirun_as_user.new_id()
    ocirun_as_user.run(cid, rootless_bundle.set_args(["sleep", "60"]), "-d")
    paused = ocirun_as_user("pause", cid)
    assert paused.returncode == 1 and "no cgroup" in paused.stderr
    assert ocirun_as_user.state(cid)["status"] == "running"
    stats = ocirun_as_user("events", "--stats", cid)
    assert stats.returncode == 1 and "no cgroup" in stats.stderr


def test_supplementary_groups_are_refused_where_setgroups_is_denied(ocirun_as_user, rootless_bundle):
    rootless_bundle.process["user"]["additionalGids"] = [0]
    result = ocirun_as_user.run(ocirun_as_user.new_id(), rootless_bundle)
    assert result.returncode != 0 and "process.user.additionalGids" in result.stderr, result.stderr


def test_a_root_only_bind_source_stays_out_of_reach(as_user, rootless_bundle, user_dir):
    """The runtime runs as the user: it must not open for the container what
    the user could not (with root's ocirun, the parent clones bind sources
    as host root; rootless, the user's own rights apply)."""
    secret = tempfile.mkdtemp(prefix="ocirun-root-only-")
    try:
        with open(os.path.join(secret, "file"), "w") as f:
            f.write("root's\n")
        os.chmod(secret, 0o700)
        rootless_bundle.add_mount("/secret", secret, options=["rbind", "ro"])
        rootless_bundle.set_args(sh("cat /secret/file"))
        result = as_user.run(as_user.new_id(), rootless_bundle)
        assert "root's" not in result.stdout
        assert result.returncode != 0
    finally:
        shutil.rmtree(secret)


def test_the_host_root_keeps_its_state_root(ocirun_command, tmp_path, monkeypatch):
    """runc's rule: the host's root ignores XDG_RUNTIME_DIR (/run/user/0)."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    result = subprocess.run(list(ocirun_command) + ["list"], capture_output=True, text=True)
    assert result.returncode == 0 and not (tmp_path / "ocirun").exists()


# --- cgroup v2: a subtree delegated to the user ----------------------------------------------

@pytest.fixture
def delegated_subtree():
    """A cgroup v2 subtree handed to the user as systemd's Delegate=yes hands
    it (the directory and its cgroup.procs, cgroup.subtree_control and
    cgroup.threads chowned), with a leaf `launcher` for the user's processes."""
    unified = "/sys/fs/cgroup"
    if not unified_only():
        pytest.skip("cgroup v2 only: the v2 VM runs this (tests/vm)")
    name = f"ocirun-delegated-{os.getpid()}"
    top = os.path.join(unified, name)
    os.mkdir(top)
    with open(os.path.join(unified, "cgroup.subtree_control"), "w") as f:
        f.write("+memory +pids")
    with open(os.path.join(top, "cgroup.subtree_control"), "w") as f:
        f.write("+memory +pids")
    for path in (top, *(os.path.join(top, n) for n in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"))):
        os.chown(path, USER, USER)
    os.mkdir(os.path.join(top, "launcher"))
    os.chown(os.path.join(top, "launcher"), USER, USER)
    os.chown(os.path.join(top, "launcher", "cgroup.procs"), USER, USER)
    yield "/" + name
    for directory, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(directory)
        except OSError:
            pass


@pytest.mark.parametrize("runtime_name", ["ocirun", "runc"])
def test_a_delegated_cgroup_v2_subtree_takes_the_containers_cgroup(runtime_name, ocirun_command, user_dir,
                                                                    rootless_bundle, delegated_subtree):
    binary = ocirun_command[-1] if runtime_name == "ocirun" else shutil.which("runc")
    launcher = f"/sys/fs/cgroup{delegated_subtree}/launcher/cgroup.procs"
    # the user's processes live in its subtree, as in a systemd user session
    rt = runtime_as_user(binary, user_dir, before=["sh", "-c", f'echo $$ > {launcher} && exec "$@"', "sh"])
    cid = rt.new_id()
    path = f"{delegated_subtree}/containers/{cid}"
    rootless_bundle.linux["cgroupsPath"] = path
    rootless_bundle.linux["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}
    rootless_bundle.set_args(sh("cat /proc/self/cgroup; sleep 60"))
    try:
        rt.run(cid, rootless_bundle, "-d")
        directory = f"/sys/fs/cgroup{path}"
        with open(os.path.join(directory, "memory.max")) as f:
            assert f.read().strip() == str(64 << 20)
        with open(os.path.join(directory, "pids.max")) as f:
            assert f.read().strip() == "20"
        pid = rt.state(cid)["pid"]
        with open(os.path.join(directory, "cgroup.procs")) as f:
            assert str(pid) in f.read().split()
    finally:
        rt.remove_everything()
    assert not os.path.exists(f"/sys/fs/cgroup{path}")


# --- id ranges through newuidmap/newgidmap ----------------------------------------------------

@pytest.fixture
def subid_user():
    """A user whom /etc/subuid and /etc/subgid grant a range (useradd adds
    one, as for every user it makes), and a directory it owns."""
    if not shutil.which("newuidmap") or not shutil.which("useradd"):
        pytest.skip("newuidmap (uidmap) and useradd are needed")
    name = f"ocirun-t{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                          capture_output=True, text=True)
    if made.returncode != 0:  # the v2 VM's overlaid /etc refuses it; the host runs these
        pytest.skip(f"useradd: {made.stderr.strip()}")
    try:
        uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True).stdout)
        with open("/etc/subuid") as f:
            start, count = next(line.split(":")[1:] for line in f if line.startswith(name + ":"))
        yield name, uid, int(start), int(count)
    finally:
        subprocess.run(["userdel", name], check=True)
        for path in ("/etc/subuid", "/etc/subgid"):  # userdel leaves them on older shadow
            with open(path) as f:
                lines = [line for line in f if not line.startswith(name + ":")]
            with open(path, "w") as f:
                f.writelines(lines)


@pytest.mark.parametrize("runtime_name", ["ocirun", "runc"])
def test_id_ranges_go_through_newuidmap(runtime_name, ocirun_command, subid_user, rootless_bundle, user_dir):
    name, uid, start, count = subid_user
    binary = ocirun_command[-1] if runtime_name == "ocirun" else shutil.which("runc")
    chown_tree(user_dir, uid)
    rt = runtime_as_user(binary, user_dir, uid)
    linux = rootless_bundle.linux
    linux["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1},
                            {"containerID": 1, "hostID": start, "size": count}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1},
                            {"containerID": 1, "hostID": start, "size": count}]
    for kind in ("bounding", "effective", "permitted"):
        rootless_bundle.process["capabilities"][kind].append("CAP_CHOWN")
    rootless_bundle.set_args(sh("cat /proc/self/uid_map; touch /tmp/f && chown 1000:1000 /tmp/f && stat -c %u /tmp/f"))
    rootless_bundle.add_mount("/tmp", "tmpfs", type="tmpfs", options=["nosuid"])
    try:
        result = rt.run(rt.new_id(), rootless_bundle)
        assert result.returncode == 0, result.stderr
        *maps, owner = result.stdout.splitlines()
        assert [m.split() for m in maps] == [["0", str(uid), "1"], ["1", str(start), str(count)]]
        assert owner == "1000"
    finally:
        rt.remove_everything()


def test_a_range_without_newuidmap_rights_is_named(ocirun_as_user, rootless_bundle):
    # ocirun's alone (the uid has no account, so newuidmap refuses it)
    rootless_bundle.linux["uidMappings"].append({"containerID": 1, "hostID": 200000, "size": 10})
    cid = ocirun_as_user.new_id()
    result = ocirun_as_user.run(cid, rootless_bundle)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("ocirun: config.json: linux.uidMappings: newuidmap: ")
    assert not os.path.exists(os.path.join(ocirun_as_user.root, cid))


# --- what a user namespace cannot do: named, and nothing left -------------------------------

@pytest.mark.parametrize("edit, named", [
    (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "hard": 1 << 30, "soft": 1024}]),
     "process.rlimits RLIMIT_NOFILE"),
    (lambda c: c["process"].update(oomScoreAdj=-500), "process.oomScoreAdj -500"),
    (lambda c: c["linux"].update(sysctl={"net.ipv4.ip_forward": "1"}), "linux.sysctl['net.ipv4.ip_forward']"),
])
def test_what_the_user_may_not_do_is_named(ocirun_as_user, rootless_bundle, edit, named):
    # runc 1.1.5 refuses these too, in words of its own (and, for oomScoreAdj, from nsexec)
    edit(rootless_bundle.config)
    cid = ocirun_as_user.new_id()
    result = ocirun_as_user.run(cid, rootless_bundle)
    assert result.returncode == 1 and named in result.stderr and len(result.stderr.splitlines()) == 1, \
        result.stderr
    assert not os.path.exists(os.path.join(ocirun_as_user.root, cid))


@pytest.fixture
def locked_mount(user_dir):
    """A tmpfs mounted nosuid,nodev,noexec by the host's root: flags a user
    namespace may not clear on a bind of it (the kernel locks them)."""
    path = os.path.join(user_dir, "locked")
    os.mkdir(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=755", "tmpfs", path], check=True)
    try:
        with open(os.path.join(path, "file"), "w") as f:
            f.write("data\n")
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=True)


def test_a_read_only_bind_keeps_the_flags_the_kernel_locked(ocirun_as_user, rootless_bundle, locked_mount):
    # ocirun's alone: runc 1.1.5 remounts with MS_RDONLY alone and gets EPERM
    rootless_bundle.add_mount("/m", locked_mount, options=["bind", "ro"])
    rootless_bundle.set_args(sh("cat /m/file; touch /m/new 2>&1; grep ' /m ' /proc/mounts"))
    result = ocirun_as_user.run(ocirun_as_user.new_id(), rootless_bundle)
    assert result.returncode == 0, result.stderr
    data, refused, mount = result.stdout.splitlines()
    assert data == "data" and "Read-only file system" in refused
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(mount.split()[3].split(","))


# --- cgroup v2: --systemd-cgroup with the user's own systemd ----------------------------------



@pytest.fixture
def user_systemd(user_dir):
    """A session bus at $XDG_RUNTIME_DIR/bus (where runc and ocirun look when
    DBUS_SESSION_BUS_ADDRESS is unset) and fake_systemd.py on it as the
    user's manager, whose cgroup is delegated to the user (cgroup v2 only)."""
    if not unified_only():
        pytest.skip("cgroup v2 only: the v2 VM runs this (tests/vm)")
    if not shutil.which("dbus-daemon"):
        pytest.skip("needs dbus-daemon")
    run = os.path.join(user_dir, "run")
    daemon, address = start_dbus_daemon(os.path.join(user_dir, "bus.conf"), os.path.join(run, "bus"), "session")
    base = f"/ocirun-user-{os.getpid()}/user@{USER}.service"
    fake = os.path.join(os.path.dirname(__file__), "fake_systemd.py")
    service = subprocess.Popen([sys.executable, fake, address, os.path.join(user_dir, "calls.jsonl"),
                                "--user", str(USER), base], stdout=subprocess.PIPE, text=True)
    try:
        assert service.stdout.readline().strip() == "ready"
        yield base
    finally:
        service.terminate()
        service.wait(10)
        daemon.terminate()
        daemon.wait(10)
        top = "/sys/fs/cgroup" + base.rsplit("/", 1)[0]
        for directory, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
            try:
                os.rmdir(directory)
            except OSError:
                pass


def test_systemd_cgroup_goes_through_the_users_own_manager(ocirun_command, user_dir, rootless_bundle, user_systemd):
    # ocirun's alone: runc 1.1.5 refuses the systemd driver unless
    # /run/systemd/system says systemd booted the host, which the stand-in cannot
    rt = runtime_as_user(ocirun_command[-1], user_dir)
    rt.global_args = ("--systemd-cgroup",)
    cid = rt.new_id()
    rootless_bundle.linux["cgroupsPath"] = f"user.slice:ocirunt:{cid}"
    rootless_bundle.linux["resources"] = {"memory": {"limit": 48 << 20}, "pids": {"limit": 30}}
    try:
        started = rt.run(cid, rootless_bundle.set_args(["sleep", "60"]), "-d")
        assert started.returncode == 0, started.stderr
        directory = f"/sys/fs/cgroup{user_systemd}/user.slice/ocirunt-{cid}.scope"
        with open(os.path.join(directory, "memory.max")) as f:
            assert f.read().strip() == str(48 << 20)
        with open(os.path.join(directory, "pids.max")) as f:
            assert f.read().strip() == "30"
        with open(os.path.join(directory, "cgroup.procs")) as f:
            assert str(rt.state(cid)["pid"]) in f.read().split()
    finally:
        rt.remove_everything()
    assert not os.path.exists(f"/sys/fs/cgroup{user_systemd}/user.slice/ocirunt-{cid}.scope")


def test_systemd_cgroup_rootless_on_cgroup_v1_is_refused(ocirun_as_user, rootless_bundle):
    if unified_only():
        pytest.skip("cgroup v1 hosts only")
    cid = ocirun_as_user.new_id()
    result = ocirun_as_user("--systemd-cgroup", "run", "--bundle", rootless_bundle, cid)
    assert result.returncode == 1 and "cgroup v2" in result.stderr and "--systemd-cgroup" in result.stderr, \
        result.stderr
    assert not os.path.exists(os.path.join(ocirun_as_user.root, cid))


def test_kill_all_without_a_cgroup_never_reaches_a_process_that_took_the_inits_pid(ocirun_as_user,
                                                                                  rootless_bundle):
    """Without a cgroup, kill --all finds the container's processes from its
    init; once the init is gone its pid may be another process's. The state
    is made to name such a process (one of the user's own, outside the
    container): it must survive kill --all."""
    cid = ocirun_as_user.new_id()
    started = ocirun_as_user.run(cid, rootless_bundle.set_args(["sleep", "60"]), "-d")
    assert started.returncode == 0, started.stderr
    bystander = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups",
                                  "sleep", "60"])
    try:
        state_path = os.path.join(ocirun_as_user.root, cid, "state.json")
        with open(state_path) as f:
            state = json.load(f)
        os.kill(state["pid"], 9)
        state["pid"] = bystander.pid  # as if the kernel had reused the init's pid
        with open(state_path, "w") as f:
            json.dump(state, f)
        ocirun_as_user("kill", "--all", cid, "KILL")
        time.sleep(0.2)
        assert bystander.poll() is None, "kill --all killed a process outside the container"
    finally:
        bystander.kill()
        bystander.wait()
