"""What the container's process sees, asked from inside with the busybox shell and
/proc: namespaces, ids, the root filesystem and its mounts, /dev, the process's
attributes (args, env, cwd, user, umask, capabilities, limits), sysctl, loopback
and inherited fds."""
import os
import subprocess

import pytest

from helpers import Bundle, add_user_namespace, cgroup_dirs, mounted_cgroups_of, read, sh, wait_until

NS_FILES = {"pid": "pid", "network": "net", "mount": "mnt", "uts": "uts", "ipc": "ipc",
            "cgroup": "cgroup", "time": "time", "user": "user"}



def host_ns(name):
    return os.readlink(f"/proc/self/ns/{name}")


def mountinfo(output):
    """mount point -> (mount options, fs type, super options) from /proc/self/mountinfo text."""
    mounts = {}
    for line in output.splitlines():
        fields = line.split()
        sep = fields.index("-")
        mounts[fields[4]] = (set(fields[5].split(",")), fields[sep + 1], set(fields[sep + 3].split(",")))
    return mounts


# --- namespaces -------------------------------------------------------------------------

@pytest.mark.parametrize("ns_type", ["pid", "network", "mount", "uts", "ipc", "cgroup", "time", "user"])
def test_namespace_is_new(runtime, bundle, ns_type, public_dir):
    if ns_type == "user":
        bundle = Bundle(os.path.join(public_dir, "bundle"), ["sh"])
        add_user_namespace(bundle)
    elif ns_type not in [ns["type"] for ns in bundle.linux["namespaces"]]:
        bundle.add_namespace(ns_type)
    name = NS_FILES[ns_type]
    inside = runtime.output(bundle, ["readlink", f"/proc/self/ns/{name}"]).strip()
    assert inside.startswith(f"{name}:[")
    assert inside != host_ns(name)


@pytest.mark.parametrize("ns_type", ["network", "ipc", "uts", "cgroup"])
def test_namespace_not_listed_is_the_hosts(runtime, bundle, ns_type):
    bundle.remove_namespace(ns_type)
    if ns_type == "uts":
        del bundle.config["hostname"]
    name = NS_FILES[ns_type]
    assert runtime.output(bundle, ["readlink", f"/proc/self/ns/{name}"]).strip() == host_ns(name)


def test_pid_1_is_the_user_process(runtime, bundle):
    out = runtime.output(bundle, sh('echo $$; tr "\\0" " " < /proc/1/cmdline; echo; ls /proc | grep -c "^[0-9]"'))
    pid, cmdline, count = out.splitlines()
    assert pid == "1"
    assert cmdline.strip().startswith("sh -c echo $$")
    assert count == "3"  # sh, tr's sibling ls and grep: nothing of ocirun's is left


@pytest.mark.parametrize("ns_type, unshare_flag", [("network", "--net"), ("ipc", "--ipc"), ("uts", "--uts")])
def test_join_an_existing_namespace_by_path(runtime, bundle, ns_type, unshare_flag):
    # Only in its own uts namespace may the holder name itself: elsewhere that
    # would rename the host (a bug this test once had).
    naming = "hostname joined-uts; " if ns_type == "uts" else ""
    holder = subprocess.Popen(["unshare", unshare_flag, "sh", "-c", f"{naming}exec sleep 1000"],
                              stdin=subprocess.DEVNULL)
    try:
        name = NS_FILES[ns_type]
        path = f"/proc/{holder.pid}/ns/{name}"
        wait_until(lambda: os.readlink(path) != host_ns(name) and (
            ns_type != "uts" or read(f"/proc/{holder.pid}/comm").strip() == "sleep"), what="holder namespace")
        bundle.add_namespace(ns_type, path)
        if ns_type == "uts":
            del bundle.config["hostname"]
        out = runtime.output(bundle, sh(f"readlink /proc/self/ns/{name}; hostname"))
        inode, hostname = out.splitlines()
        assert inode == os.readlink(path)
        if ns_type == "uts":
            assert hostname == "joined-uts"
    finally:
        holder.kill()
        holder.wait()


def test_hostname_of_a_joined_uts_namespace_is_set(runtime, bundle):
    """As runc does: the joined namespace is the container's to name."""
    holder = subprocess.Popen(["unshare", "--uts", "sleep", "1000"], stdin=subprocess.DEVNULL)
    try:
        path = f"/proc/{holder.pid}/ns/uts"
        wait_until(lambda: os.readlink(path) != host_ns("uts"), what="holder namespace")
        bundle.add_namespace("uts", path)
        bundle.config["hostname"] = "named-by-config"
        assert runtime.output(bundle, ["hostname"]).strip() == "named-by-config"
        out = subprocess.run(["nsenter", f"--uts={path}", "hostname"], capture_output=True, text=True)
        assert out.stdout.strip() == "named-by-config"
    finally:
        holder.kill()
        holder.wait()


def test_join_a_namespace_of_the_wrong_type_fails(runtime, bundle):
    bundle.add_namespace("network", "/proc/self/ns/ipc")
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(["true"]))
    assert result.returncode == 1
    assert result.stderr.startswith("ocirun: ") and "network" in result.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_user_namespace_maps_ids(runtime, public_dir):
    bundle = Bundle(os.path.join(public_dir, "bundle"), None)
    out_dir = os.path.join(public_dir, "out")
    os.mkdir(out_dir)
    os.chmod(out_dir, 0o777)
    add_user_namespace(bundle)
    # the rootfs belongs to the host's root, unmapped here: the mount point must exist
    os.mkdir(os.path.join(bundle.rootfs, "out"))
    bundle.bind("/out", out_dir)
    bundle.process["capabilities"]["effective"].append("CAP_CHOWN")
    bundle.process["capabilities"]["permitted"].append("CAP_CHOWN")
    bundle.process["capabilities"]["bounding"].append("CAP_CHOWN")
    out = runtime.output(bundle, sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /out/f; "
                                    "mkdir /out/d; chown 1000:1000 /out/d"))
    uid_map, gid_map, uid = out.splitlines()
    assert uid_map.split() == ["0", "100000", "65536"]
    assert gid_map.split() == ["0", "100000", "65536"]
    assert uid == "0"
    st = os.stat(os.path.join(out_dir, "f"))
    assert (st.st_uid, st.st_gid) == (100000, 100000)
    st = os.stat(os.path.join(out_dir, "d"))
    assert (st.st_uid, st.st_gid) == (101000, 101000)


def test_user_namespace_default_devices_work(runtime, public_dir):
    bundle = Bundle(os.path.join(public_dir, "bundle"), None)
    add_user_namespace(bundle)
    out = runtime.output(bundle, sh("echo x > /dev/null && head -c 3 /dev/zero | wc -c; "
                                    "stat -c '%t:%T' /dev/null /dev/zero /dev/tty"))
    assert out.split() == ["3", "1:3", "1:5", "5:0"]


def test_time_namespace_offsets(runtime, bundle):
    year = 365 * 24 * 3600
    bundle.add_namespace("time")
    bundle.linux["timeOffsets"] = {"boottime": {"secs": year}, "monotonic": {"secs": 2 * year}}
    before = float(read("/proc/uptime").split()[0])
    out = runtime.output(bundle, sh("cut -d' ' -f1 /proc/uptime; cat /proc/self/timens_offsets"))
    after = float(read("/proc/uptime").split()[0])
    lines = out.splitlines()
    uptime = float(lines[0])
    assert before + year - 1 <= uptime <= after + year + 1
    offsets = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert offsets["boottime"] == [str(year), "0"]
    assert offsets["monotonic"] == [str(2 * year), "0"]


def test_hostname_and_domainname(runtime, bundle):
    bundle.config["hostname"] = "box-one"
    bundle.config["domainname"] = "example.test"
    out = runtime.output(bundle, sh("hostname; cat /proc/sys/kernel/domainname"))
    assert out.splitlines() == ["box-one", "example.test"]
    assert os.uname().nodename != "box-one"


def test_init_is_in_the_container_cgroup_in_every_hierarchy(runtime, bundle):
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "1000"]))
    pid = runtime.state(cid)["pid"]
    dirs = cgroup_dirs(cid)
    assert dirs
    for directory in dirs:
        assert pid in [int(line) for line in read(os.path.join(directory, "cgroup.procs")).split()], directory
    for controllers, path in mounted_cgroups_of(pid).items():
        assert path == f"/ocirun/{cid}", controllers


def test_cgroup_namespace_is_rooted_at_the_container_cgroup(runtime, bundle):
    bundle.add_namespace("cgroup")
    out = runtime.output(bundle, ["cat", "/proc/self/cgroup"])
    for line in out.splitlines():
        assert line.endswith(":/"), line


# --- root filesystem ------------------------------------------------------------------------

@pytest.mark.parametrize("options", [(), ("--no-pivot",)], ids=["pivot_root", "no-pivot"])
def test_root_is_the_bundle_rootfs(runtime, bundle, options):
    out = runtime.output(bundle, sh(f"head -1 /etc/passwd; test -e {bundle.path} && echo host-visible; "
                                    "ls /bin/busybox; cut -d' ' -f5 /proc/self/mountinfo | head -1"),
                         *options)
    assert out.splitlines() == ["root:x:0:0:root:/root:/bin/sh", "/bin/busybox", "/"]


def test_readonly_root(runtime, bundle):
    out = runtime.output(bundle, sh("touch /new-file 2>&1; echo $?"))
    assert "Read-only file system" in out
    assert out.splitlines()[-1] != "0"
    assert not os.path.exists(os.path.join(bundle.rootfs, "new-file"))


def test_writable_root(runtime, bundle):
    bundle.config["root"]["readonly"] = False
    runtime.output(bundle, ["touch", "/new-file"])
    assert os.path.exists(os.path.join(bundle.rootfs, "new-file"))


def test_default_mounts(runtime, bundle):
    mounts = mountinfo(runtime.output(bundle, ["cat", "/proc/self/mountinfo"]))
    assert mounts["/proc"][1] == "proc"
    assert mounts["/sys"][1] == "sysfs"
    assert "ro" in mounts["/sys"][0]
    assert mounts["/dev"][1] == "tmpfs"
    assert mounts["/dev/pts"][1] == "devpts"
    assert {"ptmxmode=666", "mode=620", "gid=5"} <= mounts["/dev/pts"][2]
    assert mounts["/dev/shm"][1] == "tmpfs"
    assert mounts["/dev/mqueue"][1] == "mqueue"


def test_tmpfs_mount_with_size_and_mode(runtime, bundle):
    bundle.add_mount("/mnt/scratch", "tmpfs", type="tmpfs", options=["nosuid", "size=1m", "mode=1750"])
    out = runtime.output(bundle, sh("stat -c %a /mnt/scratch; cat /proc/self/mountinfo"))
    mode, info = out.split("\n", 1)
    assert mode == "1750"
    options, fstype, super_options = mountinfo(info)["/mnt/scratch"]
    assert fstype == "tmpfs"
    assert "nosuid" in options
    assert "size=1024k" in super_options
    assert "mode=1750" in super_options


def test_bind_mount_of_a_host_dir(runtime, bundle, host_dir):
    (host_dir / "hello").write_text("from the host\n")
    bundle.bind("/data", str(host_dir))
    out = runtime.output(bundle, sh("cat /data/hello; echo from-container > /data/back"))
    assert out == "from the host\n"
    assert (host_dir / "back").read_text() == "from-container\n"


def test_bind_mount_of_a_host_file(runtime, bundle, tmp_path):
    source = tmp_path / "file.conf"
    source.write_text("setting=1\n")
    bundle.bind("/etc/app.conf", str(source))
    assert runtime.output(bundle, ["cat", "/etc/app.conf"]) == "setting=1\n"


def test_bind_mount_with_a_relative_source_is_bundle_relative(runtime, bundle):
    os.mkdir(os.path.join(bundle.path, "data"))
    with open(os.path.join(bundle.path, "data", "x"), "w") as f:
        f.write("rel\n")
    bundle.bind("/data", "data")
    assert runtime.output(bundle, ["cat", "/data/x"]) == "rel\n"


@pytest.mark.parametrize("kind", ["bind", "rbind"])
def test_bind_and_rbind_of_a_dir_with_a_submount(runtime, bundle, host_dir_with_submount, kind):
    bundle.add_mount("/data", str(host_dir_with_submount), options=[kind])
    out = runtime.output(bundle, sh("cat /data/sub/inner 2>/dev/null || echo absent"))
    assert out == ("in submount\n" if kind == "rbind" else "absent\n")


def test_bind_mount_readonly_with_flags(runtime, bundle, host_dir):
    bundle.bind("/ro", str(host_dir), "ro", "nosuid", "nodev", "noexec")
    out = runtime.output(bundle, sh("touch /ro/x 2>&1; cat /proc/self/mountinfo"))
    first, info = out.split("\n", 1)
    assert "Read-only file system" in first
    options, _, _ = mountinfo(info)["/ro"]
    assert {"ro", "nosuid", "nodev", "noexec"} <= options
    # the remount stayed in the container: the host dir is still writable, and not a mount point
    (host_dir / "host-write").write_text("ok")
    assert str(host_dir) not in mountinfo(read("/proc/self/mountinfo"))


def test_bind_mount_rw_is_writable(runtime, bundle, host_dir):
    bundle.bind("/rw", str(host_dir), "rw")
    runtime.output(bundle, ["touch", "/rw/x"])
    assert (host_dir / "x").exists()


def test_mount_propagation_does_not_reach_the_host(runtime, bundle, host_dir):
    before = read("/proc/self/mountinfo").count("\n")
    bundle.bind("/data", str(host_dir))
    runtime.output(bundle, ["true"])
    assert str(host_dir) not in read("/proc/self/mountinfo")
    assert abs(read("/proc/self/mountinfo").count("\n") - before) < 5  # others may mount meanwhile


# --- /dev -------------------------------------------------------------------------------------

def test_default_devices(runtime, bundle):
    out = runtime.output(bundle, sh("for d in null zero full random urandom tty; do "
                                    "stat -c '%n %F %t:%T %a %u:%g' /dev/$d; done"))
    expected = {"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9", "tty": "5:0"}
    lines = out.splitlines()
    assert len(lines) == len(expected)
    for line, (name, numbers) in zip(lines, expected.items()):
        assert line == f"/dev/{name} character special file {numbers} 666 0:0"


def test_default_devices_work(runtime, bundle):
    out = runtime.output(bundle, sh("echo x > /dev/null; echo null=$?; head -c 5 /dev/zero | wc -c; "
                                    "head -c 5 /dev/urandom | wc -c"))
    assert out.splitlines() == ["null=0", "5", "5"]


def test_dev_full_write_fails(runtime, bundle):
    out = runtime.output(bundle, sh("echo x 2>&1 > /dev/full; echo $?"))
    assert "No space left on device" in out


def test_dev_symlinks(runtime, bundle):
    out = runtime.output(bundle, sh("for l in ptmx fd stdin stdout stderr; do echo $l $(readlink /dev/$l); done; "
                                    "stat -c '%F %t:%T' /dev/pts/ptmx"))
    assert out.splitlines() == [
        "ptmx pts/ptmx", "fd /proc/self/fd", "stdin /proc/self/fd/0", "stdout /proc/self/fd/1",
        "stderr /proc/self/fd/2", "character special file 5:2"]


def test_config_devices(runtime, bundle):
    bundle.linux["devices"] = [
        {"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 1000, "gid": 5},
        {"path": "/dev/sub/loopish", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600},
        {"path": "/dev/mypipe", "type": "p", "fileMode": 0o620, "uid": 0, "gid": 0},
    ]
    out = runtime.output(bundle, sh("stat -c '%n %F %t:%T %a %u:%g' /dev/myzero /dev/sub/loopish /dev/mypipe"))
    assert out.splitlines() == [
        "/dev/myzero character special file 1:5 640 1000:5",
        "/dev/sub/loopish block special file 7:c8 600 0:0",
        "/dev/mypipe fifo 0:0 620 0:0",
    ]


def test_config_device_is_usable(runtime, bundle):
    bundle.linux["devices"] = [{"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5}]
    out = runtime.output(bundle, sh("stat -c '%a %u:%g' /dev/myzero; head -c 2 /dev/myzero | wc -c"))
    assert out.split() == ["666", "0:0", "2"]


def test_config_device_over_a_default_one_keeps_the_config(runtime, bundle):
    # runc: a linux.devices entry for a default device's path replaces the default
    bundle.linux["devices"] = [{"path": "/dev/zero", "type": "c", "major": 1, "minor": 5,
                                "fileMode": 0o600, "uid": 1000, "gid": 1000}]
    out = runtime.output(bundle, ["stat", "-c", "%a %u:%g", "/dev/zero"])
    assert out.strip() == "600 1000:1000"


# --- the process -------------------------------------------------------------------------

def test_args_are_passed_unchanged(runtime, bundle):
    out = runtime.output(bundle, ["sh", "-c", 'for a in "$@"; do echo "[$a]"; done', "sh", "a b", "", "c*", "$HOME"])
    assert out.splitlines() == ["[a b]", "[]", "[c*]", "[$HOME]"]


def test_env_is_exactly_the_configs(runtime, bundle):
    bundle.process["env"] = ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "HOME=/somewhere"]
    out = runtime.output(bundle, ["cat", "/proc/self/environ"])
    assert out.split("\0")[:-1] == ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "HOME=/somewhere"]


@pytest.mark.parametrize("uid, home", [(0, "/root"), (1000, "/home/user"), (4242, "/")])
def test_home_when_env_has_none(ocirun_and_runc, bundle, uid, home):
    """runc's rule: the user's home in the container's /etc/passwd, or /."""
    bundle.process["env"] = ["PATH=/bin:/usr/bin"]
    bundle.process["user"] = {"uid": uid, "gid": uid}
    assert ocirun_and_runc.output(bundle, sh("echo $HOME")).strip() == home


def test_cwd_is_created_and_entered(runtime, bundle):
    bundle.process["cwd"] = "/work/dir"
    assert runtime.output(bundle, ["pwd"]) == "/work/dir\n"
    assert os.path.isdir(os.path.join(bundle.rootfs, "work", "dir"))


def test_args_found_on_the_containers_path(runtime, bundle):
    os.makedirs(os.path.join(bundle.rootfs, "opt", "tools"))
    script = os.path.join(bundle.rootfs, "opt", "tools", "hello-tool")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho tool ran\n")
    os.chmod(script, 0o755)
    bundle.process["env"] = ["PATH=/opt/tools:/bin"]
    assert runtime.output(bundle, ["hello-tool"]) == "tool ran\n"


def test_user_and_groups(runtime, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 65534]}
    out = runtime.output(bundle, sh("id; grep -E '^(Uid|Gid|Groups):' /proc/self/status"))
    lines = out.splitlines()
    assert lines[0] == "uid=1000(user) gid=1000(user) groups=5(tty),65534(nogroup)"
    assert lines[1].split() == ["Uid:", "1000", "1000", "1000", "1000"]
    assert lines[2].split() == ["Gid:", "1000", "1000", "1000", "1000"]
    assert lines[3].split() == ["Groups:", "5", "65534"]


def test_root_user_has_no_supplementary_groups_of_the_caller(runtime, bundle):
    out = runtime.output(bundle, ["grep", "^Groups:", "/proc/self/status"])
    assert out.split() == ["Groups:"]


@pytest.mark.parametrize("umask, expected", [(None, "0022"), (0o027, "0027"), (0, "0000")])
def test_umask(runtime, bundle, umask, expected):
    if umask is not None:
        bundle.process["user"]["umask"] = umask
    assert runtime.output(bundle, sh("umask")).strip() == expected


def capability_sets(output):
    return {line.split(":")[0]: int(line.split()[1], 16) for line in output.splitlines()}


CAPS = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"


def test_default_capabilities(runtime, bundle):
    caps = capability_sets(runtime.output(bundle, sh(CAPS)))
    default = (1 << 5) | (1 << 10) | (1 << 29)  # KILL, NET_BIND_SERVICE, AUDIT_WRITE
    assert caps == {"CapInh": 0, "CapPrm": default, "CapEff": default, "CapBnd": default,
                    "CapAmb": 0, "NoNewPrivs": 1}


def test_configured_capabilities(runtime, bundle):
    bundle.process["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"],
        "effective": ["CAP_CHOWN", "CAP_NET_ADMIN"],
        "permitted": ["CAP_CHOWN", "CAP_NET_ADMIN"],
        "inheritable": ["CAP_NET_ADMIN"],
        "ambient": ["CAP_NET_ADMIN"],
    }
    caps = capability_sets(runtime.output(bundle, sh(CAPS)))
    assert caps["CapBnd"] == (1 << 0) | (1 << 5) | (1 << 12)
    assert caps["CapEff"] == (1 << 0) | (1 << 12)
    assert caps["CapPrm"] == (1 << 0) | (1 << 12)
    assert caps["CapInh"] == 1 << 12
    assert caps["CapAmb"] == 1 << 12


def test_a_capability_the_runtime_lacks_is_a_warning_not_an_error(runtime, bundle):
    """config.md: one that cannot be granted MUST be logged as a warning, and the
    runtime SHOULD NOT fail.  This VM withholds CAP_SYS_RESOURCE (number 24)."""
    from ocirun.linux.capabilities import own_bounding_set
    if own_bounding_set() & (1 << 24):
        pytest.skip("this host grants CAP_SYS_RESOURCE")
    wanted = ["CAP_CHOWN", "CAP_SYS_RESOURCE"]
    bundle.process["capabilities"] = {name: list(wanted) for name in ("bounding", "effective", "permitted")}
    result = runtime.run(runtime.new_id(), bundle.set_args(sh(CAPS)))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ("ocirun: warning: capabilities not granted, this runtime does not hold"
                                     " them: CAP_SYS_RESOURCE")
    caps = capability_sets(result.stdout)
    assert caps["CapBnd"] == caps["CapEff"] == caps["CapPrm"] == 1 << 0


def test_non_root_user_keeps_ambient_capabilities(runtime, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.process["capabilities"] = {kind: ["CAP_NET_BIND_SERVICE"] for kind in
                                      ("bounding", "effective", "permitted", "inheritable", "ambient")}
    caps = capability_sets(runtime.output(bundle, sh(CAPS)))
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapAmb"] == 1 << 10


def test_non_root_user_without_ambient_has_no_capabilities(runtime, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    caps = capability_sets(runtime.output(bundle, sh(CAPS)))
    assert caps["CapEff"] == caps["CapPrm"] == 0
    assert caps["CapBnd"] == (1 << 5) | (1 << 10) | (1 << 29)


def test_capabilities_are_enforced(runtime, bundle):
    bundle.config["root"]["readonly"] = False
    out = runtime.output(bundle, sh("chown 1000 /etc/passwd 2>&1; echo $?"))
    assert out.splitlines()[-1] != "0"
    assert os.stat(os.path.join(bundle.rootfs, "etc", "passwd")).st_uid == 0


@pytest.mark.parametrize("value, expected", [(True, 1), (False, 0)])
def test_no_new_privileges(runtime, bundle, value, expected):
    bundle.process["noNewPrivileges"] = value
    assert capability_sets(runtime.output(bundle, sh(CAPS)))["NoNewPrivs"] == expected


def test_rlimits(runtime, bundle):
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                                 {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                                 {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000}]
    out = runtime.output(bundle, ["cat", "/proc/self/limits"])
    limits = {line[:26].strip(): line[26:].split()[:2] for line in out.splitlines()[1:]}
    assert limits["Max open files"] == ["123", "456"]
    assert limits["Max core file size"] == ["0", "0"]
    assert limits["Max processes"] == ["1000", "2000"]


def test_oom_score_adj(runtime, bundle):
    bundle.process["oomScoreAdj"] = 500
    assert runtime.output(bundle, ["cat", "/proc/self/oom_score_adj"]).strip() == "500"


def test_oom_score_adj_unset_is_inherited(runtime, bundle):
    expected = read("/proc/self/oom_score_adj").strip()
    assert runtime.output(bundle, ["cat", "/proc/self/oom_score_adj"]).strip() == expected


# --- masked and readonly paths, sysctl, network -----------------------------------------

def test_masked_paths(runtime, bundle):
    out = runtime.output(bundle, sh("wc -c < /proc/timer_list; wc -c < /proc/keys; ls -A /sys/firmware | wc -l"))
    assert out.split() == ["0", "0", "0"]


def test_masked_file_is_empty_even_with_a_file_on_the_host(runtime, bundle, host_dir):
    (host_dir / "secret").write_text("secret\n")
    bundle.bind("/data", str(host_dir))
    bundle.linux["maskedPaths"] = ["/data/secret", "/does/not/exist"]
    out = runtime.output(bundle, sh("wc -c < /data/secret; ls /data"))
    assert out.split() == ["0", "secret"]
    assert (host_dir / "secret").read_text() == "secret\n"


def test_readonly_paths(runtime, bundle, host_dir):
    bundle.bind("/data", str(host_dir))
    bundle.linux["readonlyPaths"] = ["/proc/sys", "/data", "/does/not/exist"]
    out = runtime.output(bundle, sh("exec 2>&1; echo 1 > /proc/sys/net/ipv4/ip_forward; echo proc=$?; "
                                    "touch /data/x; echo data=$?"))
    assert "proc=1" in out and "data=1" in out
    assert "Read-only file system" in out
    assert not (host_dir / "x").exists()


def test_sysctl_in_a_new_network_namespace(runtime, bundle):
    host_value = read("/proc/sys/net/ipv4/ip_forward")
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "net.ipv4.ping_group_range": "0 1000"}
    out = runtime.output(bundle, sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ping_group_range"))
    assert out.split() == ["1", "0", "1000"]
    assert read("/proc/sys/net/ipv4/ip_forward") == host_value


def test_loopback_is_up_in_a_new_network_namespace(runtime, bundle):
    out = runtime.output(bundle, sh("cat /sys/class/net/lo/flags; ls /sys/class/net"))
    flags, interfaces = out.split("\n", 1)
    assert int(flags, 16) & 0x1, f"lo flags {flags}: IFF_UP not set"
    assert interfaces.split() == ["lo"]


def test_loopback_answers_ping(runtime, bundle):
    bundle.process["capabilities"]["bounding"].append("CAP_NET_RAW")
    bundle.process["capabilities"]["effective"].append("CAP_NET_RAW")
    bundle.process["capabilities"]["permitted"].append("CAP_NET_RAW")
    out = runtime.output(bundle, sh("ping -c 1 -W 2 127.0.0.1 >/dev/null && echo reachable"))
    assert out.strip() == "reachable"


# --- inherited file descriptors -------------------------------------------------------------

def create_with_extra_fds(runtime, bundle, tmp_path, *options):
    """`ocirun create` of a `sleep` with fd 3 and fd 4 open on two files, then start;
    returns the container's pid (its fds are then read from the host)."""
    (tmp_path / "three").write_text("fd three\n")
    (tmp_path / "four").write_text("fd four\n")
    cid = runtime.new_id()
    argv = runtime.argv("create", *options, "-b", bundle.set_args(["sleep", "1000"]), cid)
    result = subprocess.run(["sh", "-c", 'exec 3<"$1" 4<"$2"; shift 2; exec "$@"', "sh",
                             str(tmp_path / "three"), str(tmp_path / "four"), *argv],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=30)
    assert result.returncode == 0
    runtime.start(cid)
    return runtime.state(cid)["pid"]


def test_preserve_fds_passes_fd_3_and_closes_the_rest(runtime, bundle, tmp_path):
    pid = create_with_extra_fds(runtime, bundle, tmp_path, "--preserve-fds", "1")
    assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2", "3"]
    assert os.readlink(f"/proc/{pid}/fd/3") == str(tmp_path / "three")


def test_without_preserve_fds_only_stdio_is_inherited(runtime, bundle, tmp_path):
    pid = create_with_extra_fds(runtime, bundle, tmp_path)
    assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2"]


def test_preserve_fds_reads_through_fd_3(runtime, bundle, tmp_path):
    (tmp_path / "three").write_text("fd three\n")
    argv = runtime.argv("run", "--preserve-fds", "1", "-b", bundle.set_args(sh("cat <&3")), runtime.new_id())
    result = subprocess.run(["sh", "-c", 'exec 3<"$1"; shift; exec "$@"', "sh", str(tmp_path / "three"), *argv],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fd three\n"


# --- the host stays as it was -----------------------------------------------------------------

@pytest.fixture
def restore_sysctls():
    """Put back any host sysctl a runtime bug changed; yields the list to fill with names."""
    names = []
    saved = {}

    def remember(name):
        path = "/proc/sys/" + name.replace(".", "/")
        saved[path] = read(path)
        names.append(name)
        return saved[path].strip()
    yield remember
    for path, value in saved.items():
        if read(path) != value:
            with open(path, "w") as f:
                f.write(value)


def test_sysctl_outside_any_namespace_is_refused(runtime, bundle, restore_sysctls):
    host_value = restore_sysctls("vm.swappiness")
    bundle.linux["sysctl"] = {"vm.swappiness": str((int(host_value) + 1) % 100)}
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(["true"]))
    assert read("/proc/sys/vm/swappiness").strip() == host_value, "the container changed the host's vm.swappiness"
    assert result.returncode == 1
    assert result.stderr.startswith("ocirun: ") and "vm.swappiness" in result.stderr


def test_network_sysctl_without_a_network_namespace_is_refused(runtime, bundle, restore_sysctls):
    host_value = restore_sysctls("net.ipv4.ip_forward")
    bundle.remove_namespace("network")
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "0" if host_value == "1" else "1"}
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(["true"]))
    assert read("/proc/sys/net/ipv4/ip_forward").strip() == host_value, \
        "the container changed the host's net.ipv4.ip_forward"
    assert result.returncode == 1
    assert result.stderr.startswith("ocirun: ") and "net.ipv4.ip_forward" in result.stderr


def test_config_devices_are_not_created_in_a_bind_mounted_host_dev(runtime, bundle):
    # runc: with /dev bound from the host, the runtime creates no device at all
    name = f"ocirun-test-{os.getpid()}-{runtime.new_id()[-10:]}"
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    bundle.add_mount("/dev", "/dev", options=["rbind"])
    bundle.linux["devices"] = [{"path": f"/dev/{name}", "type": "c", "major": 1, "minor": 3}]
    try:
        runtime.run(runtime.new_id(), bundle.set_args(["true"]))
        assert not os.path.lexists(f"/dev/{name}"), f"the container created /dev/{name} on the host"
    finally:
        if os.path.lexists(f"/dev/{name}"):
            os.unlink(f"/dev/{name}")


def test_mount_destination_through_a_symlink_stays_in_the_rootfs(runtime, bundle, host_dir):
    os.symlink(str(host_dir), os.path.join(bundle.rootfs, "escape"))
    os.symlink("../../../../../../../../.." + str(host_dir), os.path.join(bundle.rootfs, "escape2"))
    bundle.config["root"]["readonly"] = False
    bundle.add_mount("/escape/sub", "tmpfs", type="tmpfs", options=None)
    bundle.add_mount("/escape2/sub2", "tmpfs", type="tmpfs", options=None)
    runtime.output(bundle, ["true"])
    assert os.listdir(host_dir) == [], "a mount point was created outside the rootfs"
    assert os.path.isdir(os.path.join(bundle.rootfs, str(host_dir).lstrip("/"), "sub"))


@pytest.mark.parametrize("propagation", ["private", "slave", "shared", "unbindable"])
def test_rootfs_propagation(runtime, bundle, propagation):
    """unbindable too: its rootfs could not be bound without a private parent (a bug once)."""
    before = read("/proc/self/mountinfo").count(bundle.rootfs)
    bundle.linux["rootfsPropagation"] = propagation
    out = runtime.output(bundle, sh("grep -c . /proc/self/mountinfo"))
    assert int(out) > 5
    assert read("/proc/self/mountinfo").count(bundle.rootfs) == before, "container mounts reached the host"


def test_large_output_is_passed_through_whole(runtime, bundle):
    out = runtime.output(bundle, sh("i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done"))
    lines = out.splitlines()
    assert len(lines) == 20000 and lines[-1] == "line-19999"


def test_user_without_a_passwd_entry(runtime, bundle):
    bundle.process["user"] = {"uid": 4242, "gid": 4343}
    out = runtime.output(bundle, sh("id -u; id -g; grep -E '^Groups:' /proc/self/status"))
    assert out.split() == ["4242", "4343", "Groups:"]


@pytest.mark.parametrize("value", [1000, 0])
def test_oom_score_adj_bounds(runtime, bundle, value):
    bundle.process["oomScoreAdj"] = value
    assert runtime.output(bundle, ["cat", "/proc/self/oom_score_adj"]).strip() == str(value)


@pytest.mark.parametrize("options, expected", [((), 1), (("--no-new-keyring",), 0)],
                         ids=["new-keyring", "no-new-keyring"])
def test_session_keyring(runtime, bundle, options, expected):
    # the init joins a new session keyring named after the container, unless told not to
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["/bin/sleep", "100"]), *options)
    assert read("/proc/keys").count(f"keyring   _ses.{cid}:") == expected
