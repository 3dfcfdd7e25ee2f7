"""The lifecycle of runtime.md through the CLI, on real containers."""
import json
import os
import stat
import subprocess
import time
import uuid

import pytest

from cli_runner import OCIRUN, Runtime, cgroup_dirs, make_bundle, requires_root_and_ocirun
from ocirun.schema import validate_state

pytestmark = requires_root_and_ocirun

# Ids unique to this run: a cgroup path is per id, whichever --root, and
# another test run may share the host.
_RUN = uuid.uuid4().hex[:8]
CC1 = "c1-" + _RUN
CC2 = "c2-" + _RUN
CC3 = "c3-" + _RUN
CC4 = "c4-" + _RUN
CC5 = "c5-" + _RUN
CC6 = "c6-" + _RUN
CC7 = "c7-" + _RUN
CC8 = "c8-" + _RUN
CC9 = "c9-" + _RUN
CC10 = "c10-" + _RUN
CC11 = "c11-" + _RUN
CL1 = "l1-" + _RUN
CL2 = "l2-" + _RUN
CSPEC1 = "spec1-" + _RUN


@pytest.fixture
def ocirun(tmp_path):
    runtime = Runtime(tmp_path / "state")
    yield runtime
    runtime.cleanup()
    null = os.stat("/dev/null")  # a runtime bug that touches host devices shows here
    assert stat.S_ISCHR(null.st_mode) and stat.S_IMODE(null.st_mode) == 0o666 and null.st_uid == 0


def wait_for_status(ocirun, container_id, status, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        state = ocirun.state(container_id)
        if state["status"] == status or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def bind_out(tmp_path):
    """A host directory bound at /out in the container."""
    out = tmp_path / "out"
    out.mkdir()

    def edit(config):
        config["mounts"].append({"destination": "/out", "type": "bind", "source": str(out),
                                 "options": ["rbind", "rw"]})
        config["root"]["readonly"] = False
    return out, edit


def test_process_runs_only_after_start(tmp_path, ocirun):
    out, edit = bind_out(tmp_path)
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "touch /out/ran; exec sleep 100"], edit)
    pid_file = tmp_path / "pid"
    ocirun.ok("create", "--bundle", bundle, "--pid-file", str(pid_file), CC1)
    state = ocirun.state(CC1)
    validate_state(state)
    assert state["status"] == "created" and state["bundle"] == bundle
    assert int(pid_file.read_text()) == state["pid"]
    time.sleep(0.3)
    assert not (out / "ran").exists(), "the user process ran before start"
    ocirun.ok("start", CC1)
    for _ in range(100):
        if (out / "ran").exists():
            break
        time.sleep(0.02)
    assert (out / "ran").exists()
    state = ocirun.state(CC1)
    validate_state(state)
    assert state["status"] == "running"
    with open(f"/proc/{state['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"  # the user's process, not ocirun's init


def test_states_and_operations_allowed_in_each(tmp_path, ocirun):
    bundle = make_bundle(tmp_path, ["/bin/sleep", "100"])
    ocirun.ok("create", "-b", bundle, CC2)
    pid = ocirun.state(CC2)["pid"]

    duplicate = ocirun("create", "-b", bundle, CC2)
    assert duplicate.returncode == 1 and duplicate.stderr == f"ocirun: container {CC2} already exists\n"
    assert ocirun.state(CC2)["pid"] == pid and ocirun.state(CC2)["status"] == "created"

    ocirun.ok("start", CC2)
    again = ocirun("start", CC2)
    assert again.returncode == 1 and f"cannot start container {CC2}" in again.stderr

    refused = ocirun("delete", CC2)
    assert refused.returncode == 1
    assert refused.stderr == f"ocirun: cannot delete container {CC2} that is not stopped: running\n"
    assert ocirun.state(CC2)["status"] == "running"

    ocirun.ok("kill", CC2, "KILL")
    assert wait_for_status(ocirun, CC2, "stopped")["pid"] == 0
    late = ocirun("kill", CC2)
    assert late.returncode == 1 and late.stderr == f"ocirun: container {CC2} is not running\n"
    assert ocirun("start", CC2).returncode == 1

    ocirun.ok("delete", CC2)
    assert not os.path.exists(os.path.join(ocirun.root, CC2))
    assert cgroup_dirs(CC2) == []
    gone = ocirun("state", CC2)
    assert gone.returncode == 1 and gone.stderr == f"ocirun: container {CC2} does not exist\n"


def test_delete_force_kills_a_running_container_and_leaves_nothing(tmp_path, ocirun):
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "sleep 100 & sleep 100"])
    ocirun.ok("run", "-d", "-b", bundle, CC3)
    pid = ocirun.state(CC3)["pid"]
    assert cgroup_dirs(CC3)
    with open(cgroup_dirs(CC3)[0] + "/cgroup.procs") as f:
        assert len(f.read().split()) == 2
    ocirun.ok("delete", "--force", CC3)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert cgroup_dirs(CC3) == [] and os.listdir(ocirun.root) == []


def test_delete_of_a_created_container(tmp_path, ocirun):
    bundle = make_bundle(tmp_path, ["/bin/true"])
    ocirun.ok("create", "-b", bundle, CC4)
    pid = ocirun.state(CC4)["pid"]
    ocirun.ok("delete", CC4)
    assert os.listdir(ocirun.root) == [] and cgroup_dirs(CC4) == []
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_kill_delivers_the_signal_to_a_trap(tmp_path, ocirun):
    out, edit = bind_out(tmp_path)
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c",
                                    "trap 'echo got-usr1 > /out/f; exit 3' USR1; touch /out/ready; "
                                    "while true; do sleep 0.1; done"], edit)
    ocirun.ok("run", "-d", "-b", bundle, CC5)
    for _ in range(200):
        if (out / "ready").exists():
            break
        time.sleep(0.02)
    ocirun.ok("kill", CC5, "USR1")
    wait_for_status(ocirun, CC5, "stopped")
    assert (out / "f").read_text() == "got-usr1\n"


@pytest.mark.parametrize("signal_text", ["SIGKILL", "KILL", "9"])
def test_signal_forms(tmp_path, ocirun, signal_text):
    bundle = make_bundle(tmp_path, ["/bin/sleep", "100"])
    ocirun.ok("run", "-d", "-b", bundle, CC6)
    ocirun.ok("kill", CC6, signal_text)
    assert wait_for_status(ocirun, CC6, "stopped")["status"] == "stopped"


def test_kill_all_reaches_every_process(tmp_path, ocirun):
    # without a pid namespace, killing the init does not take the others along
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "sleep 100 & sleep 100"], lambda c: c["linux"].update(
        namespaces=[ns for ns in c["linux"]["namespaces"] if ns["type"] != "pid"]))
    ocirun.ok("run", "-d", "-b", bundle, CC7)
    procs_file = cgroup_dirs(CC7)[0] + "/cgroup.procs"
    for _ in range(100):
        pids = open(procs_file).read().split()
        if len(pids) == 2:
            break
        time.sleep(0.02)
    assert len(pids) == 2
    ocirun.ok("kill", "--all", CC7, "KILL")
    for _ in range(100):
        if not open(procs_file).read().split():
            break
        time.sleep(0.02)
    assert open(procs_file).read().split() == []


@pytest.mark.parametrize("script, status", [("exit 7", 7), ("true", 0)])
def test_run_returns_the_exit_status_and_cleans_up(tmp_path, ocirun, script, status):
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", script])
    result = ocirun("run", "-b", bundle, CC8)
    assert result.returncode == status, result.stderr
    assert os.listdir(ocirun.root) == [] and cgroup_dirs(CC8) == []


def test_run_reports_death_by_signal_as_128_plus_n(tmp_path, ocirun):
    # (the container's pid 1 cannot kill itself: the kernel ignores it)
    bundle = make_bundle(tmp_path, ["/bin/sleep", "100"])
    process = subprocess.Popen([OCIRUN, "--root", ocirun.root, "run", "-b", bundle, CC11],
                               stdin=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(os.path.join(ocirun.root, CC11, "state.json")) and \
                ocirun.state(CC11)["status"] == "running":
            break
        time.sleep(0.02)
    ocirun.ok("kill", CC11, "KILL")
    assert process.wait(timeout=10) == 137
    assert os.listdir(ocirun.root) == [] and cgroup_dirs(CC11) == []


def test_stdio_is_the_callers(tmp_path, ocirun):
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "read line; echo \"out:$line\"; echo err:x >&2"])
    result = subprocess.run([OCIRUN, "--root", ocirun.root, "run", "-b", bundle, CC9],
                            input="hello\n", capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout == "out:hello\n" and result.stderr == "err:x\n"


def test_run_forwards_signals_to_the_container(tmp_path, ocirun):
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"])
    process = subprocess.Popen([OCIRUN, "--root", ocirun.root, "run", "-b", bundle, CC10],
                               stdin=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(os.path.join(ocirun.root, CC10, "state.json")) and \
                ocirun.state(CC10)["status"] == "running":
            break
        time.sleep(0.02)
    time.sleep(0.2)
    process.terminate()
    assert process.wait(timeout=10) == 42


def test_list_formats(tmp_path, ocirun):
    bundle = make_bundle(tmp_path, ["/bin/sleep", "100"])
    ocirun.ok("create", "-b", bundle, CL1)
    ocirun.ok("run", "-d", "-b", bundle, CL2)
    assert ocirun.ok("list", "-q").stdout.split() == [CL1, CL2]
    listed = json.loads(ocirun.ok("list", "--format", "json").stdout)
    assert [(c["id"], c["status"]) for c in listed] == [(CL1, "created"), (CL2, "running")]
    table = ocirun.ok("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[0:3] == [CL1, str(listed[0]["pid"]), "created"]


def test_json_log_line_on_failure(tmp_path, ocirun):
    log = tmp_path / "log.json"
    result = ocirun("--log", str(log), "--log-format", "json", "start", "nope")
    assert result.returncode == 1
    line = json.loads(log.read_text().splitlines()[-1])
    assert line["level"] == "error" and line["msg"] == "container nope does not exist" and line["time"]


def test_spec_writes_a_runnable_default(tmp_path, ocirun):
    bundle = make_bundle(tmp_path, ["/bin/true"])
    os.unlink(os.path.join(bundle, "config.json"))
    ocirun.ok("spec", "--bundle", bundle)
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    assert config["ociVersion"] == "1.3.0" and config["process"]["args"] == ["sh"]
    config["process"]["args"] = ["/bin/true"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    ocirun.ok("run", "-b", bundle, CSPEC1)
    again = ocirun("spec", "--bundle", bundle)
    assert again.returncode == 1 and "config.json already exists" in again.stderr


def test_version(ocirun):
    out = ocirun.ok("--version").stdout
    assert out.startswith("ocirun version ") and "spec: 1.3.0" in out
