"""ocirun called the way containerd's runc shim (io.containerd.runc.v2) calls a
runtime, which is how Kubernetes reaches it through containerd's CRI: create
with --log and --log-format json, start, and once the init has exited,
`kill --all ID KILL` (the shim sends it after every exit it handles), then
delete.  Each test runs with runc 1.1.5 too, the reference."""
import json
import os
import subprocess

import pytest

from helpers import sh, wait_until


def shim_create(rt, cid, bundle, log):
    return rt.ok("--log", str(log), "--log-format", "json", "create", "--bundle", bundle,
                 "--pid-file", os.path.join(bundle.path, "init.pid"), cid)


def test_kill_all_after_the_init_exited_succeeds(ocirun_and_runc, bundle, tmp_path):
    rt = ocirun_and_runc
    bundle.set_args(sh("exit 3"))
    cid = rt.new_id()
    log = tmp_path / "log.json"
    shim_create(rt, cid, bundle, log)
    rt.start(cid)
    rt.wait_status(cid, "stopped")
    result = rt("--log", str(log), "--log-format", "json", "kill", "--all", cid, "KILL")
    assert result.returncode == 0, result.stderr
    assert rt("--log", str(log), "--log-format", "json", "delete", cid).returncode == 0
    assert cid not in rt.list_ids()


def test_kill_all_reaches_what_the_init_left(ocirun_and_runc, bundle, host_dir):
    """The init exits and leaves a process of its own in the container
    (without a pid namespace, as in a pod that shares the host's): kill --all
    still finds it in the cgroup."""
    rt = ocirun_and_runc
    bundle.remove_namespace("pid")
    bundle.bind("/out", str(host_dir))
    bundle.set_args(sh("sleep 1000 & echo $! > /out/child; exit 0"))
    cid = rt.new_id()
    rt.create(cid, bundle)
    rt.start(cid)
    wait_until(lambda: (host_dir / "child").exists() and (host_dir / "child").read_text().strip(),
               what="the child's pid")
    child = int((host_dir / "child").read_text())
    rt.wait_status(cid, "stopped")
    rt.ok("kill", "--all", cid, "KILL")
    wait_until(lambda: not os.path.exists(f"/proc/{child}") or _zombie(child), what="the child killed")
    rt.delete(cid)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_kill_without_all_of_a_stopped_container_says_container_not_running(ocirun_and_runc, bundle, tmp_path):
    """runtime-spec: kill of a stopped container is an error; containerd
    recognises runc's words for it, `container not running`, in the log."""
    rt = ocirun_and_runc
    bundle.set_args(["true"])
    cid = rt.new_id()
    log = tmp_path / "log.json"
    shim_create(rt, cid, bundle, log)
    rt.start(cid)
    rt.wait_status(cid, "stopped")
    result = rt("--log", str(log), "--log-format", "json", "kill", cid, "KILL")
    assert result.returncode != 0
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "container not running" in last["msg"], last
    rt.delete(cid)


def test_recursive_root_propagation(ocirun_and_runc, bundle, tmp_path):
    """rshared, rslave and rprivate, as containerd's CRI writes them for pods
    with mount propagation: runc's extension of runtime-spec's four values,
    accepted by both.  ocirun then gives the container's / that propagation,
    as the spec says of rootfsPropagation; runc 1.1.5 leaves its / private
    (README, Conformance)."""
    rt = ocirun_and_runc
    seen = {}
    for propagation in ("rshared", "rslave", "rprivate"):
        bundle.linux["rootfsPropagation"] = propagation
        # field 7 on: the optional fields of / (shared:N, master:N, or none)
        seen[propagation] = rt.output(bundle, sh("awk '$5 == \"/\" {print $7}' /proc/self/mountinfo")).strip()
    if rt.command[0].endswith("ocirun"):
        assert seen["rshared"].startswith("shared:"), seen
        assert seen["rprivate"] == "-", seen


@pytest.fixture
def shared_host_dir(tmp_path):
    """A host directory that is a shared mount of its own, as a kubelet's
    Bidirectional volume is."""
    path = tmp_path / "shared"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "ocirun-shared", str(path)], check=True)
    subprocess.run(["mount", "--make-shared", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-R", "-l", str(path)], check=False)


def test_rshared_volume_propagates_both_ways(ocirun_and_runc, bundle, shared_host_dir):
    """critest's 'mount with rshared should support propagation from host to
    container and vice versa': with rootfsPropagation rshared and an rshared
    bind, a mount made inside the container appears on the host (ocirun had
    made the whole new root a slave while detaching the old one)."""
    rt = ocirun_and_runc
    bundle.linux["rootfsPropagation"] = "rshared"
    bundle.bind("/vol", str(shared_host_dir), "rbind", "rshared")
    for kind in ("bounding", "effective", "permitted"):
        bundle.process["capabilities"][kind].append("CAP_SYS_ADMIN")
    bundle.set_args(sh("mkdir -p /vol/inner && mount -t tmpfs from-container /vol/inner && touch /vol/inner/made"))
    rt.output(bundle)
    with open("/proc/self/mountinfo") as f:
        assert f" {shared_host_dir}/inner " in f.read(), "the container's mount did not reach the host"
    assert (shared_host_dir / "inner" / "made").exists()
