"""An attacker in a container, and on the host, trying to reach through the
runtime what it must never reach: the runtime's executable (CVE-2019-5736),
the caller's fds and working directory (CVE-2024-21626), the runtime's
environment and fds while the init waits, a host path through a racing
mount destination (CVE-2021-30465), a masked path shown through a planted
/dev/null (CVE-2025-31133), a /dev/console that is a symlink
(CVE-2025-52565), procfs writes sent elsewhere by a mount over /proc
(CVE-2025-52881), the state files of other users' containers, a pid file
written through a symlink, and what a create killed at any point leaves.

Each test is a container (or a host user, or a kill -9) that really tries.
Where runc 1.1.5, the reference, is expected to hold too, the test runs
with both runtimes (`attacked`), so that a test that cannot fail is caught;
the ones it fails are ocirun's alone, each saying why.
"""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from helpers import build_probe, leftovers, runtime_interpreter, sh, wait_for_file, wait_until

SECRET = "OCIRUN_TEST_SECRET=do-not-leak-7f3a"


@pytest.fixture
def attacked(ocirun_and_runc):
    """The runtime under attack: ocirun, then runc 1.1.5 as the reference."""
    return ocirun_and_runc


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    directory = tmp_path_factory.mktemp("probes")
    return {name: build_probe(name, directory) for name in ("exe_grabber", "swap_loop")}


def install(bundle, program, name):
    shutil.copy(program, os.path.join(bundle.rootfs, "bin", name))


def created_with_watcher(rt, bundle, host_dir, watch_script):
    """A created container (init waiting for start) in which a second
    process, started with exec, runs watch_script with /out bound to host_dir."""
    bundle.bind("/out", str(host_dir))
    cid = rt.new_id()
    rt.create(cid, bundle)
    rt.ok("exec", "-d", cid, "sh", "-c", watch_script)
    return cid


def init_pid(rt, cid):
    return rt.state(cid)["pid"]


# --- the runtime's executable (CVE-2019-5736) ---------------------------------------------

def grabbed_executables(path):
    """The exe_grabber's report: one dict per executable it got."""
    found = []
    for line in open(path).read().splitlines():
        if line.startswith("exe "):
            _, pid, ident, *fields = line.split()
            entry = dict(field.split("=") for field in fields)
            entry = {key: int(value) for key, value in entry.items()}
            entry["pid"], entry["id"] = int(pid), tuple(int(n) for n in ident.split(":"))
            found.append(entry)
    return found


@pytest.mark.parametrize("caps", ["default", "with-CAP_SYS_PTRACE"])
def test_exe_of_the_runtimes_processes_is_never_a_writable_host_file(attacked, bundle, host_dir, probes, caps):
    """A process of the container opens /proc/<pid>/exe of every process it
    can see while the init waits, while `exec` runs a `#!/proc/self/exe`
    script, and while start runs the init's last exec; once those are gone it
    tries each for writing, as the CVE-2019-5736 exploit does (the probe
    writes to a memfd alone, never to a file on a disk).  Each executable it
    got is a file of the container's own, or cannot be written: a sealed
    memfd, or a file on a read-only mount.  Never the host's interpreter,
    except for a container that holds CAP_SYS_PTRACE, which not dumpable
    does not keep out of ocirun's processes while they set it up: then the
    interpreter it sees is immutable (bootstrap.sh)."""
    install(bundle, probes["exe_grabber"], "exe_grabber")
    evil = os.path.join(bundle.rootfs, "evil")
    with open(evil, "w") as f:
        f.write("#!/proc/self/exe\n")
    os.chmod(evil, 0o755)
    bundle.set_args(sh("sleep 1000"))
    if caps != "default":  # not dumpable no longer keeps this one out
        for kind in ("bounding", "effective", "permitted"):
            bundle.process["capabilities"][kind].append("CAP_SYS_PTRACE")
    cid = created_with_watcher(attacked, bundle, host_dir, "exe_grabber 3 > /out/grabbed")
    wait_for_file(host_dir / "grabbed")
    time.sleep(0.3)
    for _ in range(3):
        attacked("exec", cid, "/evil")  # fails one way or another; what matters is what was seen
    attacked.start(cid)
    wait_until(lambda: "done" in (host_dir / "grabbed").read_text(), timeout=15, what="the grabber's end")
    rootfs_files = {(st.st_dev, st.st_ino) for st in (os.stat(os.path.join(bundle.rootfs, "bin", name))
                                                       for name in ("busybox", "exe_grabber"))}
    host_python = os.stat(os.path.realpath(sys.executable))
    grabbed = grabbed_executables(host_dir / "grabbed")
    assert grabbed, "the grabber saw no executable at all"
    for exe in grabbed:
        where = f"pid {exe['pid']}: /proc/{exe['pid']}/exe {exe}"
        if caps == "default":  # not dumpable: the interpreter is never even seen
            assert exe["id"] != (host_python.st_dev, host_python.st_ino), f"{where} is the host's interpreter"
        if exe["id"] in rootfs_files:
            continue
        if exe["seals"] >= 0:
            assert exe["seals"] & 8 and exe["memwrite"] != 0 and exe["nlink"] == 0, f"{where}: not sealed"
        else:  # a read-only mount (runc's copy), or immutable (bootstrap.sh's interpreter)
            assert exe["ro"] or exe["write"] in (errno.EPERM, errno.EACCES, errno.EROFS), \
                f"{where}: a writable file of the host"
    if attacked.command[0].endswith("ocirun"):
        helpers = [exe for exe in grabbed if exe["seals"] >= 0]
        assert helpers and all(exe["memwrite"] == 1 for exe in helpers), grabbed  # EPERM: sealed


def test_helper_refuses_to_be_driven_by_a_proc_self_exe_script(runtime, bundle):
    """`#!/proc/self/exe` as the container's entrypoint reaches the sealed
    helper, which runs nothing and says so."""
    evil = os.path.join(bundle.rootfs, "evil")
    with open(evil, "w") as f:
        f.write("#!/proc/self/exe\n")
    os.chmod(evil, 0o755)
    result = runtime.run(runtime.new_id(), bundle.set_args(["/evil"]))
    assert result.returncode == 127 and "usage: ocirun-exec" in result.stderr


# --- fds and the working directory (CVE-2024-21626) --------------------------------------

def run_with_fd9(rt, host_path, *args):
    """`RUNTIME ARGS...` from a shell that holds fd 9 open on host_path
    (output through files: a created container keeps the caller's stdio)."""
    command = " ".join(f"'{a}'" for a in rt.argv(*args))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        result = subprocess.run(["sh", "-c", f"exec 9<'{host_path}'; exec {command}"], stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, timeout=30)
        out.seek(0)
        err.seek(0)
        result.stdout, result.stderr = out.read().decode(), err.read().decode()
    return result


@pytest.mark.parametrize("fd_path", ["/proc/self/fd/9", "/proc/1/fd/9", "/proc/self/fd/9/.."])
def test_cwd_through_a_leaked_fd_is_refused(attacked, bundle, tmp_path, fd_path):
    (tmp_path / "host-only").mkdir()
    (tmp_path / "host-only" / "marker").write_text("host\n")
    bundle.process["cwd"] = fd_path
    bundle.set_args(sh("ls; cat marker"))
    bundle.save()
    cid = attacked.new_id()
    result = run_with_fd9(attacked, tmp_path / "host-only", "run", "--bundle", bundle.path, cid)
    assert result.returncode != 0, f"the container started with cwd {fd_path}: {result.stdout}"
    assert "marker" not in result.stdout and "host" not in result.stdout


def test_exec_cwd_through_a_leaked_fd_is_refused(attacked, bundle, tmp_path):
    (tmp_path / "host-only").mkdir()
    (tmp_path / "host-only" / "marker").write_text("host\n")
    bundle.set_args(sh("sleep 1000"))
    cid = attacked.new_id()
    attacked.create(cid, bundle)
    attacked.start(cid)
    result = run_with_fd9(attacked, tmp_path / "host-only", "exec", "--cwd", "/proc/self/fd/9", cid,
                          "sh", "-c", "ls; cat marker")
    assert result.returncode != 0 and "marker" not in result.stdout, result.stdout
    attacked.delete(cid, force=True)


def host_fds_of(pid):
    """What the fds of `pid` point at, from the host."""
    fds = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            pass
    return fds


def own_kind_of_fd(target, state_dir):
    return (target.startswith(("pipe:", "socket:", "anon_inode:", "/dev/null", "/dev/pts/", "/memfd:"))
            or target.startswith(state_dir + "/"))


def test_waiting_init_holds_no_host_fd(attacked, bundle, tmp_path):
    """The caller's fd 9 (a host directory), and the runtime's own fds to
    host files (a cgroup.procs, the bundle, the state directory), are not in
    the waiting init: only stdio, pipes and sockets, the exec fifo, the
    sealed helper."""
    (tmp_path / "host-only").mkdir()
    bundle.set_args(sh("sleep 1000"))
    bundle.save()
    cid = attacked.new_id()
    result = run_with_fd9(attacked, tmp_path / "host-only", "create", "--bundle", bundle.path, cid)
    assert result.returncode == 0, result.stderr
    pid = init_pid(attacked, cid)
    state_dir = os.path.join(attacked.root, cid)
    for fd, target in host_fds_of(pid).items():
        if fd > 2:  # stdio is the caller's, by design
            assert own_kind_of_fd(target, state_dir), f"the waiting init holds fd {fd} -> {target}"
    attacked.delete(cid, force=True)


# --- what the waiting init shows of the runtime ------------------------------------------

def test_waiting_init_shows_the_container_nothing_of_the_runtime(attacked, bundle, host_dir, monkeypatch):
    """Between create and start, another process of the container reads the
    init's /proc entries: no caller's environment, no fd leading to a host
    file, no host directory as cwd or root."""
    name, value = SECRET.split("=")
    monkeypatch.setenv(name, value)
    bundle.set_args(sh("sleep 1000"))
    script = ("for f in environ cmdline; do tr '\\0' '\\n' < /proc/1/$f; done > /out/seen 2>&1; "
              "for l in /proc/1/fd/* /proc/1/cwd /proc/1/root /proc/1/exe; do "
              "echo \"$l -> $(readlink $l 2>&1)\"; done >> /out/seen 2>&1; touch /out/done")
    cid = created_with_watcher(attacked, bundle, host_dir, script)
    wait_for_file(host_dir / "done")
    seen = (host_dir / "seen").read_text()
    assert value not in seen, f"the caller's environment is visible in the container:\n{seen}"
    for line in seen.splitlines():
        if " -> " not in line:
            continue
        link, target = line.split(" -> ", 1)
        # busybox's readlink prints nothing where it is refused
        if link.endswith(("/cwd", "/root")):
            assert target in ("/", ""), line
        elif "/fd/" in link and not link.endswith(("/0", "/1", "/2")):  # stdio is the caller's
            assert not target or target.startswith(("pipe:", "socket:", "anon_inode:", "/dev/", "/memfd:")) \
                or target.endswith("exec.fifo"), line
    attacked.delete(cid, force=True)


@pytest.mark.parametrize("waits_as", ["helper", "interpreter"])
def test_init_environment_holds_nothing_of_the_callers(runtime, bundle, monkeypatch, waits_as):
    """Even read as root from the host, the waiting init's environ holds none
    of the caller's variables: the helper waits with process.env alone, and
    an init that must stay the interpreter (a startContainer hook runs
    after start) has the caller's environment zeroed."""
    name, value = SECRET.split("=")
    monkeypatch.setenv(name, value)
    bundle.set_args(sh("sleep 1000"))
    if waits_as == "interpreter":
        bundle.config["hooks"] = {"startContainer": [{"path": "/bin/true"}]}
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    with open(f"/proc/{init_pid(runtime, cid)}/environ", "rb") as f:
        environ = [entry.decode() for entry in f.read().split(b"\0") if entry]
    assert value not in " ".join(environ)
    expected = bundle.process["env"] + ["HOME=/root"]  # HOME as runc gives it, from /etc/passwd
    assert environ == (expected if waits_as == "helper" else []), environ
    runtime.delete(cid, force=True)


def test_user_process_gets_exactly_process_env(runtime, bundle, monkeypatch):
    name, value = SECRET.split("=")
    monkeypatch.setenv(name, value)
    bundle.process["env"] = ["PATH=/bin:/usr/bin", "ONLY=this", "HOME=/"]
    assert sorted(runtime.output(bundle, ["env"]).split()) == ["HOME=/", "ONLY=this", "PATH=/bin:/usr/bin"]


# --- a racing mount destination (CVE-2021-30465) -----------------------------------------

def test_racing_mount_destination_never_lands_on_the_host(attacked, make_bundle, tmp_path, probes):
    """Container A swaps, in a volume it shares with container B's rootfs, a
    directory with a symlink to a host directory, as fast as it can, while B
    is created again and again with a bind mount below that directory: the
    bind must land inside B's rootfs, never on the host path.  A
    createRuntime hook (run once B's mounts are made, before pivot_root)
    looks for it in the init's mount table, where a mount that escaped would
    be, in B's mount namespace: a mount point that is the host path itself,
    not its namesake inside the rootfs, where symlinks are followed."""
    volume = tmp_path / "volume"
    (volume / "racy" / "target").mkdir(parents=True)
    host_target = tmp_path / "host-target"
    (host_target / "target").mkdir(parents=True)
    os.symlink(str(host_target), volume / "link")
    os.chmod(volume, 0o777)
    source = tmp_path / "mounted-source"
    source.mkdir()
    hits = tmp_path / "hits"
    hook = tmp_path / "look.sh"
    hook.write_text(f"#!/bin/sh\npid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/')\n"
                    f"grep -F ' {host_target}/' /proc/$pid/mountinfo >> {hits}\nexit 0\n")
    hook.chmod(0o755)

    swapper = make_bundle(name="swapper")
    install(swapper, probes["swap_loop"], "swap_loop")
    swapper.bind("/vol", str(volume))
    swapper.set_args(["swap_loop", "/vol/racy", "/vol/link", "30"])
    swapper_id = attacked.new_id()
    attacked.create(swapper_id, swapper)
    attacked.start(swapper_id)

    victim = make_bundle(name="victim")
    victim.bind("/data", str(volume))
    victim.bind("/data/racy/target", str(source))
    victim.config["hooks"] = {"createRuntime": [{"path": str(hook)}]}
    victim.set_args(["true"])
    try:
        for _ in range(30):
            attacked.run(attacked.new_id(), victim)
    finally:
        attacked.delete(swapper_id, force=True)
    assert not hits.exists() or not hits.read_text(), f"binds landed on the host path:\n{hits.read_text()}"
    assert os.listdir(host_target / "target") == []


# --- masked paths and a planted /dev/null (CVE-2025-31133) -------------------------------

def test_masked_path_is_never_covered_with_a_planted_dev_null(runtime, bundle):
    """The image's /dev/null is a symlink to a file of its choosing and the
    config mounts no /dev: masking /proc/timer_list with it would show that
    file there.  (runc 1.1.5 does; fixed in runc 1.2.8.)"""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]
    dev = os.path.join(bundle.rootfs, "dev")
    os.makedirs(dev, exist_ok=True)
    with open(os.path.join(bundle.rootfs, "planted"), "w") as f:
        f.write("planted by the image\n")
    os.symlink("/planted", os.path.join(dev, "null"))
    bundle.linux["maskedPaths"] = ["/proc/timer_list"]
    cid = runtime.new_id()
    bundle.set_args(["cat", "/proc/timer_list"])
    result = runtime.run(cid, bundle)
    assert "planted" not in result.stdout
    assert result.returncode != 0 and "/dev/null" in result.stderr and "null device" in result.stderr
    assert leftovers(runtime, cid) == []


def test_masked_paths_show_nothing(attacked, bundle):
    bundle.linux["maskedPaths"] = ["/proc/timer_list", "/proc/acpi", "/proc/missing"]
    out = attacked.output(bundle, sh("wc -c < /proc/timer_list; ls -A /proc/acpi | wc -l; "
                                     "echo x > /proc/timer_list 2>/dev/null || echo ro"))
    assert out.split() == ["0", "0", "ro"] or out.split()[:2] == ["0", "0"]


# --- /dev/console (CVE-2025-52565) ------------------------------------------------------

def console_run(rt, bundle, script, tmp_path):
    """Run `script` with process.terminal, relayed by a foreground run from a pty."""
    bundle.process["terminal"] = True
    bundle.set_args(sh(script))
    bundle.save()
    command = " ".join(f"'{a}'" for a in rt.argv("run", "--bundle", bundle.path, rt.new_id()))
    return subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30)


def test_dev_console_is_the_containers_pty(attacked, bundle, tmp_path):
    result = console_run(attacked, bundle, "stat -c '%t:%T' /dev/console $(tty)", tmp_path)
    lines = result.stdout.replace("^@", "").split()
    assert result.returncode == 0 and len(lines) == 2 and lines[0] == lines[1], result.stdout + result.stderr


def test_dev_console_through_a_planted_symlink_is_refused(runtime, bundle, tmp_path):
    """Without a /dev mount the image's /dev/console is used; a symlink there
    would have the pty bound over whatever it names.  (runc 1.1.5 follows
    it; fixed in runc 1.2.8.)"""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    dev = os.path.join(bundle.rootfs, "dev")
    os.makedirs(dev, exist_ok=True)
    os.symlink("/etc/passwd", os.path.join(dev, "console"))
    before = open(os.path.join(bundle.rootfs, "etc", "passwd")).read()
    result = console_run(runtime, bundle, "cat /etc/passwd", tmp_path)
    assert result.returncode != 0 and "/dev/console" in result.stdout + result.stderr
    assert open(os.path.join(bundle.rootfs, "etc", "passwd")).read() == before


# --- procfs and what is mounted over it (CVE-2025-52881) ---------------------------------

def test_no_volume_is_mounted_under_proc(attacked, bundle, tmp_path):
    """A volume over /proc/sys/kernel, holding a symlink where a sysctl file
    is, would have the runtime write where the container chose."""
    volume = tmp_path / "fake-kernel"
    volume.mkdir()
    os.symlink("/etc/hostname-written", volume / "msgmax")
    bundle.add_mount("/proc/sys/kernel", str(volume), options=["rbind"])
    bundle.add_namespace("ipc")
    bundle.linux["sysctl"] = {"kernel.msgmax": "4242"}
    cid = attacked.new_id()
    result = attacked.run(cid, bundle.set_args(["true"]))
    assert result.returncode != 0, "a volume was mounted over /proc/sys/kernel"
    assert not os.path.lexists(os.path.join(bundle.rootfs, "etc", "hostname-written"))


def test_no_volume_reaches_proc_through_a_symlink_in_the_image(attacked, bundle, tmp_path):
    """The same, with the destination reaching /proc/sys through a symlink the
    image planted: it is checked where it really lands."""
    os.symlink("/proc/sys", os.path.join(bundle.rootfs, "innocent"))
    volume = tmp_path / "fake-kernel"
    volume.mkdir()
    bundle.add_mount("/innocent/kernel", str(volume), options=["rbind"])
    cid = attacked.new_id()
    result = attacked.run(cid, bundle.set_args(["true"]))
    assert result.returncode != 0, "a volume was mounted over /proc/sys/kernel through a symlink"


def test_lxcfs_style_binds_under_proc_are_allowed(attacked, bundle, tmp_path):
    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal: 42 kB\n")
    bundle.add_mount("/proc/meminfo", str(fake), options=["bind", "ro"])
    assert attacked.output(bundle, ["head", "-1", "/proc/meminfo"]).strip() == "MemTotal: 42 kB"


def test_sysctl_reaches_the_kernel(attacked, bundle):
    bundle.add_namespace("ipc")
    bundle.linux["sysctl"] = {"kernel.msgmax": "4242"}
    assert attacked.output(bundle, ["cat", "/proc/sys/kernel/msgmax"]).strip() == "4242"


# --- the state directory, as another host user ----------------------------------------

def as_nobody(*argv):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *argv],
                          capture_output=True, text=True, timeout=30)


def test_state_files_are_root_s_alone(attacked, bundle, public_dir):
    attacked.root = os.path.join(public_dir, "state")  # a stranger may walk to the state root, no further
    name, value = SECRET.split("=")
    bundle.process["env"].append(SECRET)
    bundle.set_args(sh("sleep 1000"))
    cid = attacked.new_id()
    attacked.create(cid, bundle)
    directory = os.path.join(attacked.root, cid)
    for path in [attacked.root, directory] + [os.path.join(directory, f) for f in os.listdir(directory)]:
        result = as_nobody("cat", path) if os.path.isfile(path) else as_nobody("ls", path)
        assert result.returncode != 0 and value not in result.stdout, f"a stranger reads {path}"
    attacked.delete(cid, force=True)


def test_notify_socket_is_reachable_only_through_the_container(runtime, bundle, tmp_path, monkeypatch,
                                                               public_dir):
    """While start waits for the container's READY=1, a stranger on the host
    cannot send it in the container's place."""
    import socket
    runtime.root = os.path.join(public_dir, "state")
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    engine.bind(str(tmp_path / "engine.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "engine.sock"))
    bundle.set_args(sh("sleep 1000"))
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    start = runtime.popen("start", cid)
    sock = os.path.join(runtime.root, cid, "notify", "notify.sock")
    wait_for_file(sock, process=start)
    result = as_nobody(sys.executable, "-c", "import socket, sys; s = socket.socket(socket.AF_UNIX, "
                       "socket.SOCK_DGRAM); s.sendto(b'READY=1', sys.argv[1])", sock)
    assert result.returncode != 0 and "Permission denied" in result.stderr, result.stderr
    engine.settimeout(0.5)
    with pytest.raises(socket.timeout):
        engine.recv(100)
    start.kill()
    start.wait()
    engine.close()
    runtime.delete(cid, force=True)


def test_pid_file_is_never_written_through_a_symlink(attacked, bundle, tmp_path):
    """Symlinks planted at the pid file and at the temporary names runtimes
    write first (ocirun's `pid.tmp` before, runc's `.pid`)."""
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    pid_file = tmp_path / "pid"
    for name in ("pid", "pid.tmp", ".pid"):
        os.symlink(victim, tmp_path / name)
    bundle.set_args(sh("sleep 1000"))
    cid = attacked.new_id()
    created = attacked("create", "--bundle", bundle, "--pid-file", str(pid_file), cid)
    assert victim.read_text() == "untouched\n"
    if created.returncode == 0:  # refusing is safe too (runc: its temporary name exists)
        assert not os.path.islink(pid_file) and int(pid_file.read_text()) == init_pid(attacked, cid)
        attacked.delete(cid, force=True)


# --- kill -9 of create, then delete --force --------------------------------------------

def test_create_killed_at_any_point_leaves_nothing_after_delete_force(runtime, bundle, host_dir):
    """create is killed after 0 to ~30 ms (before, while and after the
    cgroup, the init and the mounts are made; measured creates take
    20-40 ms here), and with a createRuntime hook holding it once the mounts
    are done; `delete --force` then leaves no cgroup, process, mount or state.
    (runc 1.1.5 leaves the container's cgroups behind.)"""
    bundle.set_args(sh("sleep 1000"))
    bundle.save()
    delays = [i / 1000 for i in range(0, 32, 2)]
    hook = host_dir / "hold.sh"
    hook.write_text(f"#!/bin/sh\ntouch {host_dir}/held\nsleep 30\n")
    hook.chmod(0o755)
    mounts_before = open("/proc/self/mountinfo").read().count("\n")
    for delay in delays + ["hook"]:
        if delay == "hook":
            bundle.config["hooks"] = {"createRuntime": [{"path": str(hook)}]}
            bundle.save()
        cid = runtime.new_id()
        create = runtime.popen("create", "--bundle", bundle, cid)
        if delay == "hook":
            wait_for_file(host_dir / "held", process=create)
        else:
            time.sleep(delay)
        create.send_signal(signal.SIGKILL)
        create.wait()
        result = runtime("delete", "--force", cid)
        assert result.returncode == 0, f"after a kill at {delay}: {result.stderr}"
        wait_until(lambda: not leftovers(runtime, cid), timeout=10,
                   what=f"nothing left of a create killed at {delay} ({leftovers(runtime, cid)})")
    subprocess.run(["pkill", "-f", str(hook)], check=False)
    assert open("/proc/self/mountinfo").read().count("\n") == mounts_before


def test_no_pivot_leaves_no_bare_proc_to_mount_from(attacked, bundle):
    # Under --no-pivot's chroot the host's /proc stays in the container's
    # mount namespace; while a whole procfs mount is there, a process
    # root in a user namespace of its own may mount a fresh, unmasked one.
    bundle.process["capabilities"]["bounding"].append("CAP_SETFCAP")
    bundle.process["capabilities"]["permitted"].append("CAP_SETFCAP")
    bundle.set_args(["unshare", "-mrpf", "sh", "-c", "mount -t proc none /proc && echo MOUNTED"])
    result = attacked.run(attacked.new_id(), bundle, "--no-pivot")
    assert "MOUNTED" not in result.stdout
    assert result.returncode != 0
    assert "ermission denied" in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.fixture
def host_read_only_bind(tmp_path):
    """A host directory bound read-only, nosuid, onto another."""
    source, point = tmp_path / "src", tmp_path / "ro"
    source.mkdir()
    point.mkdir()
    os.chmod(tmp_path, 0o755)
    subprocess.run(["mount", "--bind", str(source), str(point)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro,nosuid", str(point)], check=True)
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=True)


@pytest.mark.parametrize("options", [["bind"], ["bind", "idmap"]])
def test_user_namespace_root_cannot_lift_what_the_host_made_read_only(attacked, make_bundle, public_dir,
                                                                       host_read_only_bind, options):
    # The bind's source is opened by host root (test_runc_behaviour.py); the
    # mount the container gets must still carry the flags the kernel locks
    # for a less privileged mount namespace, or its root could remount rw.
    # (ocirun's id-mapped binds, copied in the host's namespace, once could.)
    from helpers import add_user_namespace
    bundle = make_bundle(name=os.path.join(public_dir, "bundle"))
    os.chmod(bundle.path, 0o755)
    os.mkdir(os.path.join(bundle.rootfs, "m"))
    add_user_namespace(bundle)
    for kind in ("bounding", "effective", "permitted"):
        bundle.process["capabilities"][kind].append("CAP_SYS_ADMIN")
    bundle.add_mount("/m", str(host_read_only_bind), type="bind", options=options)
    bundle.set_args(sh("mount -o remount,bind,rw /m 2>&1; mount -o remount,bind,rw,nosuid /m 2>&1;"
                       " touch /m/written 2>&1; echo done"))
    result = attacked.run(attacked.new_id(), bundle)
    assert result.stdout.endswith("done\n"), result.stdout + result.stderr
    assert not (host_read_only_bind / "written").exists(), result.stdout
    assert "Read-only file system" in result.stdout


@pytest.mark.parametrize("directory", ["proc", "sys"])
def test_proc_and_sysfs_never_go_through_a_symlink_in_the_image(attacked, bundle, directory):
    # an image whose /proc is a symlink would get the kernel's files, and
    # the masks meant for them, somewhere the image chose
    path = os.path.join(bundle.rootfs, directory)
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink("/elsewhere", path)
    result = attacked.run(attacked.new_id(), bundle.set_args(["true"]))
    assert result.returncode == 1
    if directory == "proc":  # runc names it for proc alone (sysfs may fail earlier on v1)
        assert "must be mounted on ordinary directory" in result.stderr, result.stderr
    assert not os.path.exists(os.path.join(bundle.rootfs, "elsewhere"))


# --- the image's files as Python modules ---------------------------------------------------

def plant_modules_where_the_runtime_looks(rootfs, interpreter, marker):
    """A module for every name the runtime's interpreter could still import
    (the standard library, and every module of the ocirun package), at the
    path the interpreter would read it from, but inside the image: after
    pivot_root a lazy import would read these and run them in ocirun."""
    layout = subprocess.run(
        [interpreter, "-c", "import json, os, pkgutil, sys, ocirun; print(json.dumps(["
         "[p for p in sys.path if p], sorted(sys.stdlib_module_names), os.path.dirname(ocirun.__file__),"
         " [m.name for m in pkgutil.walk_packages(ocirun.__path__, 'ocirun.')]]))"],
        capture_output=True, text=True, check=True).stdout
    search_path, stdlib, package_dir, submodules = json.loads(layout)
    code = f"open({marker!r}, 'a').write(__name__ + '\\n')\n"
    for directory in search_path:
        planted = rootfs + directory
        os.makedirs(planted, exist_ok=True)
        for name in stdlib:
            with open(os.path.join(planted, name + ".py"), "w") as module:
                module.write(code)
    for name in submodules:
        relative = name.split(".")[1:]
        directory = os.path.join(rootfs + package_dir, *relative[:-1])
        os.makedirs(directory, exist_ok=True)
        for path in (os.path.join(directory, relative[-1] + ".py"),
                     os.path.join(directory, relative[-1], "__init__.py")):
            if not os.path.exists(os.path.dirname(path)):
                continue
            with open(path, "w") as module:
                module.write(code)


def test_no_module_of_the_image_runs_in_the_runtime(runtime, bundle):
    """ocirun is Python: once its root is the container's, an import would
    read the image's file at the interpreter's path and run it with the
    runtime's privileges. The image plants a module at every such path; the
    runtime goes through its success and failure paths after pivot_root
    (a run, an executable the kernel refuses, a cwd that is a file, a failing startContainer
    hook, exec in both ways) and none of them ever runs."""
    marker = "/planted-module-ran"
    bundle.config["root"]["readonly"] = False
    plant_modules_where_the_runtime_looks(bundle.rootfs, runtime_interpreter(runtime), marker)
    not_a_program = os.path.join(bundle.rootfs, "bin", "not-a-program")
    with open(not_a_program, "wb") as garbage:
        garbage.write(b"\0\1\2 not an executable format")
    os.chmod(not_a_program, 0o755)
    outcomes = [runtime.run(runtime.new_id(), bundle.set_args(["true"])).returncode,
                runtime.run(runtime.new_id(), bundle.set_args(["/bin/not-a-program"])).returncode]
    bundle.process["cwd"] = "/bin/sh"  # not a directory
    outcomes.append(runtime.run(runtime.new_id(), bundle.set_args(["true"])).returncode)
    bundle.process["cwd"] = "/"
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    outcomes.append(runtime.run(runtime.new_id(), bundle).returncode)
    del bundle.config["hooks"]
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "60"]))
    outcomes += [runtime("exec", cid, "true").returncode, runtime("exec", cid, "/bin/not-a-program").returncode,
                 runtime("exec", "--cwd", "/no/such", cid, "true").returncode]
    runtime("delete", "-f", cid)
    assert outcomes == [0, 1, 1, 1, 0, 1, 255], outcomes
    ran = os.path.join(bundle.rootfs, marker.lstrip("/"))
    assert not os.path.exists(ran), open(ran).read()
