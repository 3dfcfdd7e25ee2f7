"""The container lifecycle of runtime.md through ocirun's CLI: create, start, state,
kill, delete, run, list, and the errors of operations in the wrong state."""
import json
import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import cgroup_dirs, cgroup_procs, leftovers, read, sh, wait_for_file, wait_until

SPEC_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "spec")

SLEEP = sh("sleep 1000")


def ready_then(script):
    """A container script that touches /out/ready (the host_dir) before `script`."""
    return sh(f"touch /out/ready; {script}")


def assert_one_error_line(result, *mentions):
    assert result.returncode == 1, f"exit {result.returncode}, stderr {result.stderr!r}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocirun: "), result.stderr
    for text in mentions:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"


def test_version(runtime):
    result = runtime.ok("--version")
    assert "ocirun version" in result.stdout
    assert "1.3.0" in result.stdout


# --- create / start ----------------------------------------------------------------

def test_user_process_does_not_run_before_start(runtime, bundle, host_dir):
    bundle.set_args(sh("touch /out/started; sleep 1000"))
    bundle.bind("/out", str(host_dir))
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    assert runtime.status(cid) == "created"
    assert not (host_dir / "started").exists(), "the user process ran before start"
    runtime.start(cid)
    wait_for_file(host_dir / "started")
    assert runtime.status(cid) == "running"
    runtime.delete(cid, force=True)


def test_state_goes_created_running_stopped(runtime, bundle, host_dir):
    bundle.set_args(sh("read line < /out/go; exit 0"))
    bundle.bind("/out", str(host_dir))
    os.mkfifo(host_dir / "go")
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    created = runtime.state(cid)
    assert created["status"] == "created"
    assert created["pid"] > 0
    os.kill(created["pid"], 0)
    runtime.start(cid)
    running = runtime.state(cid)
    assert running["status"] == "running"
    assert running["pid"] == created["pid"], "the user process must be the created init"
    with open(host_dir / "go", "w") as f:
        f.write("go\n")
    runtime.wait_status(cid, "stopped")
    stopped = runtime.state(cid)
    assert stopped["pid"] == 0
    runtime.delete(cid)
    assert leftovers(runtime, cid) == []


def test_state_document_fields_and_schema(runtime, bundle):
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT4

    bundle.set_args(SLEEP)
    bundle.config["annotations"] = {"org.example.owner": "tests", "com.example.x": "1"}
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    state = runtime.state(cid)

    with open(os.path.join(SPEC_DIR, "state-schema.json")) as f:
        schema = json.load(f)
    with open(os.path.join(SPEC_DIR, "defs.json")) as f:
        defs = referencing.Resource.from_contents(json.load(f), default_specification=DRAFT4)
    validator = jsonschema.Draft4Validator(schema, registry=referencing.Registry().with_resource("defs.json", defs))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(state)]
    assert errors == []

    assert state["ociVersion"] == "1.3.0"
    assert state["id"] == cid
    assert state["bundle"] == bundle.path
    assert state["rootfs"] == bundle.rootfs
    assert state["annotations"] == {"org.example.owner": "tests", "com.example.x": "1"}
    assert state["owner"] == "root"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", state["created"])


def test_pid_file_holds_the_state_pid(runtime, bundle, tmp_path):
    bundle.set_args(SLEEP)
    cid = runtime.new_id()
    pid_file = tmp_path / "pid"
    runtime.create(cid, bundle, "--pid-file", pid_file)
    assert read(pid_file).strip() == str(runtime.state(cid)["pid"])


def test_run_detached_pid_file(runtime, bundle, tmp_path):
    bundle.set_args(SLEEP)
    cid = runtime.new_id()
    pid_file = tmp_path / "pid"
    runtime.ok("run", "-d", "--pid-file", pid_file, "-b", bundle, cid)
    state = runtime.state(cid)
    assert state["status"] == "running"
    assert read(pid_file).strip() == str(state["pid"])


def test_create_with_an_id_in_use_fails_and_leaves_the_container_alone(runtime, bundle, make_bundle):
    bundle.set_args(SLEEP)
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    before = runtime.state(cid)
    other = make_bundle(SLEEP)
    result = runtime("create", "-b", other, cid)
    assert_one_error_line(result, cid)
    after = runtime.state(cid)
    assert after == before
    assert after["bundle"] == bundle.path
    # ... and it still starts
    runtime.start(cid)
    assert runtime.status(cid) == "running"
    result = runtime("create", "-b", other, cid)
    assert_one_error_line(result, cid)
    assert runtime.state(cid)["pid"] == before["pid"]
    assert runtime.status(cid) == "running"
    assert cgroup_procs(cid) == [before["pid"]]


@pytest.mark.parametrize("command", ["start", "delete"])
def test_start_or_delete_of_a_running_container_fails_and_leaves_it(runtime, bundle, command):
    # delete needs --force for a running container; see the delete tests below
    bundle.set_args(SLEEP)
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    pid = runtime.state(cid)["pid"]
    assert_one_error_line(runtime(command, cid), cid)
    assert runtime.state(cid)["status"] == "running"
    assert runtime.state(cid)["pid"] == pid


def test_start_of_a_stopped_container_fails(runtime, bundle):
    bundle.set_args(["true"])
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    runtime.wait_status(cid, "stopped")
    assert_one_error_line(runtime("start", cid), cid)
    assert runtime.status(cid) == "stopped"


def test_start_of_a_created_container_whose_init_was_killed_fails(runtime, bundle):
    bundle.set_args(SLEEP)
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.kill(cid, "KILL")
    runtime.wait_status(cid, "stopped")
    assert_one_error_line(runtime("start", cid), cid)


def test_operations_on_a_missing_container_fail(runtime):
    cid = runtime.new_id()
    for verb in (["state"], ["start"], ["kill"], ["delete"]):
        result = runtime(*verb, cid)
        assert_one_error_line(result, cid)
        assert "does not exist" in result.stderr


def test_delete_force_of_a_missing_container_succeeds_as_runcs(runtime):
    """podman and containerd's shim run delete --force after a failed create:
    runc exits 0, and clears a state directory a dead create left."""
    cid = runtime.new_id()
    result = runtime("delete", "--force", cid)
    assert (result.returncode, result.stderr) == (0, "")
    os.makedirs(os.path.join(runtime.root, cid))
    runtime.ok("delete", "-f", cid)
    assert not os.path.exists(os.path.join(runtime.root, cid))


# --- kill ----------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["SIGUSR1", "USR1", "10"])
def test_kill_with_a_signal_the_container_traps(runtime, bundle, host_dir, spelling):
    bundle.set_args(ready_then('trap "echo got > /out/f; exit 3" USR1; while :; do sleep 0.1; done'))
    bundle.bind("/out", str(host_dir))
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    wait_for_file(host_dir / "ready")
    runtime.kill(cid, spelling)
    runtime.wait_status(cid, "stopped")
    assert read(host_dir / "f") == "got\n"


def test_kill_sends_sigterm_by_default(runtime, bundle, host_dir):
    bundle.set_args(ready_then('trap "echo term > /out/f; exit 0" TERM; while :; do sleep 0.1; done'))
    bundle.bind("/out", str(host_dir))
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    wait_for_file(host_dir / "ready")
    runtime.kill(cid)
    runtime.wait_status(cid, "stopped")
    assert read(host_dir / "f") == "term\n"


def test_kill_of_a_created_container_stops_it(runtime, bundle):
    bundle.set_args(SLEEP)
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.kill(cid, "KILL")
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)
    assert leftovers(runtime, cid) == []


def test_kill_of_a_stopped_container_fails(runtime, bundle):
    bundle.set_args(["true"])
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    runtime.wait_status(cid, "stopped")
    assert_one_error_line(runtime("kill", cid, "KILL"), cid)


def test_kill_with_an_invalid_signal_fails(runtime, bundle):
    bundle.set_args(SLEEP)
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    assert_one_error_line(runtime("kill", cid, "SIGNOPE"), "SIGNOPE")
    assert runtime.status(cid) == "created"


def test_kill_all_signals_every_process(runtime, bundle, host_dir):
    # The init traps TERM and execs an init-proof sleep afterwards; its children do not trap.
    bundle.set_args(ready_then(
        'trap "echo term >> /out/log" TERM; sleep 1000 & sleep 1000 & '
        "while [ $(ls /proc | grep -c '^[0-9]') -lt 3 ]; do :; done; touch /out/children; "
        "wait; echo waited >> /out/log; exec sleep 1000"))
    bundle.bind("/out", str(host_dir))
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    wait_for_file(host_dir / "children")
    assert len(cgroup_procs(cid)) == 3
    runtime.kill(cid, "TERM", "--all")
    wait_until(lambda: len(cgroup_procs(cid)) == 1 and "waited" in read(host_dir / "log"),
               what="children killed and the init's wait returned")
    assert "term" in read(host_dir / "log")
    assert runtime.status(cid) == "running"
    runtime.kill(cid, "KILL", "--all")
    runtime.wait_status(cid, "stopped")
    assert cgroup_procs(cid) == []


# --- delete --------------------------------------------------------------------------

def test_delete_force_kills_and_removes_everything(runtime, bundle):
    bundle.set_args(sh("sleep 1000 & sleep 1000"))
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    pid = runtime.state(cid)["pid"]
    assert cgroup_dirs(cid)
    runtime.delete(cid, force=True)
    assert leftovers(runtime, cid) == []
    assert not os.path.exists(f"/proc/{pid}") or "Z" in read(f"/proc/{pid}/stat").split(")")[1][:3]
    assert_one_error_line(runtime("state", cid), cid)
    assert cid not in runtime.list_ids()


def test_delete_of_a_created_container(runtime, bundle, host_dir):
    bundle.set_args(sh("touch /out/ran"))
    bundle.bind("/out", str(host_dir))
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.delete(cid)
    assert leftovers(runtime, cid) == []
    assert not (host_dir / "ran").exists()


def test_delete_of_a_stopped_container(runtime, bundle):
    bundle.set_args(["true"])
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    runtime.wait_status(cid, "stopped")
    assert cgroup_dirs(cid), "the cgroup goes with delete, not with the init"
    runtime.delete(cid)
    assert leftovers(runtime, cid) == []


def test_delete_force_of_a_stopped_container(runtime, bundle):
    bundle.set_args(["true"])
    cid = runtime.new_id()
    runtime.create(cid, bundle)
    runtime.start(cid)
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid, force=True)
    assert leftovers(runtime, cid) == []


# --- list ----------------------------------------------------------------------------

def test_list_table_json_and_quiet(runtime, bundle):
    bundle.set_args(SLEEP)
    created, running = runtime.new_id("a"), runtime.new_id("b")
    runtime.create(created, bundle)
    runtime.create(running, bundle)
    runtime.start(running)

    assert sorted(runtime.ok("list", "-q").stdout.split()) == sorted([created, running])

    table = runtime.ok("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[created][1:4] == [str(runtime.state(created)["pid"]), "created", bundle.path]
    assert rows[running][1:4] == [str(runtime.state(running)["pid"]), "running", bundle.path]

    listed = json.loads(runtime.ok("list", "--format", "json").stdout)
    assert {s["id"]: s["status"] for s in listed} == {created: "created", running: "running"}
    for entry in listed:
        assert entry == runtime.state(entry["id"])


def test_list_of_an_empty_root(runtime):
    assert runtime.ok("list", "-q").stdout == ""
    listed = json.loads(runtime.ok("list", "--format", "json").stdout or "null")
    assert listed in ([], None)


# --- run -----------------------------------------------------------------------------

def test_run_propagates_the_exit_status_and_deletes(runtime, bundle):
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(sh("exit 7")))
    assert result.returncode == 7, result.stderr
    assert leftovers(runtime, cid) == []
    assert cid not in runtime.list_ids()


def run_in_foreground_until(runtime, bundle, host_dir, script, act):
    """`ocirun run` a container whose script touches /out/ready first; once it has,
    call act(cid, process); return (run's exit status, its stderr, cid)."""
    bundle.set_args(ready_then(script))
    bundle.bind("/out", str(host_dir))
    cid = runtime.new_id()
    process = runtime.popen("run", "-b", bundle, cid)
    try:
        wait_for_file(host_dir / "ready", process=process)
        act(cid, process)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, err, cid


def test_run_exit_status_of_a_container_killed_by_sigkill(runtime, bundle, host_dir):
    status, err, cid = run_in_foreground_until(runtime, bundle, host_dir, "sleep 1000",
                                               lambda cid, _: runtime.kill(cid, "KILL"))
    assert status == 137, err
    assert leftovers(runtime, cid) == []


def test_run_exit_status_of_a_trapped_signal(runtime, bundle, host_dir):
    status, err, _ = run_in_foreground_until(runtime, bundle, host_dir,
                                             'trap "exit 3" USR1; while :; do sleep 0.1; done',
                                             lambda cid, _: runtime.kill(cid, "USR1"))
    assert status == 3, err


def test_run_forwards_sigterm_to_the_container(runtime, bundle, host_dir):
    status, err, _ = run_in_foreground_until(runtime, bundle, host_dir,
                                             'trap "exit 5" TERM; while :; do sleep 0.1; done',
                                             lambda _, process: process.send_signal(signal.SIGTERM))
    assert status == 5, err


def test_run_stdout_and_stderr_are_the_callers(runtime, bundle):
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(sh("echo to-stdout; echo to-stderr >&2")))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "to-stdout\n"
    assert result.stderr == "to-stderr\n"


def test_run_stdin_is_the_callers(runtime, bundle):
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(["cat"]), input="line one\nline two\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "line one\nline two\n"


def test_run_detached_leaves_it_running(runtime, bundle):
    bundle.set_args(SLEEP)
    cid = runtime.new_id()
    result = runtime.ok("run", "-d", "-b", bundle, cid)
    assert result.stdout == ""
    assert runtime.status(cid) == "running"


# --- logs ----------------------------------------------------------------------------

def test_log_format_json_records_a_create_error(runtime, bundle, tmp_path):
    with open(bundle.config_path, "w") as f:
        f.write("{not json")
    log = tmp_path / "log.json"
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle.path, cid,
                     global_args=("--log", str(log), "--log-format", "json"))
    assert_one_error_line(result, "config.json")
    entries = [json.loads(line) for line in read(log).splitlines()]
    errors = [e for e in entries if e["level"] == "error"]
    assert len(errors) == 1, entries
    assert set(errors[0]) >= {"level", "msg", "time"}
    assert errors[0]["msg"] == result.stderr.strip()[len("ocirun: "):]
    assert re.match(r"\d{4}-\d\d-\d\dT", errors[0]["time"])
    assert leftovers(runtime, cid) == []


def test_log_text_format_records_a_create_error(runtime, bundle, tmp_path):
    with open(bundle.config_path, "w") as f:
        f.write("{not json")
    log = tmp_path / "log.txt"
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle.path, cid, global_args=("--log", str(log)))
    assert result.returncode == 1
    text = read(log)
    assert "level=error" in text and "config.json" in text


# --- races and processes outside the init's control ------------------------------------------

def test_concurrent_creates_of_one_id_have_one_winner(runtime, bundle):
    cid = runtime.new_id()
    bundle.set_args(["sleep", "1000"]).save()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: runtime("create", "-b", bundle.path, cid), range(4)))
    statuses = [(result.returncode, result.stderr) for result in results]
    assert sorted(code for code, _ in statuses) == [0, 1, 1, 1], statuses
    for code, err in statuses:
        if code:
            assert err.strip() == f"ocirun: container {cid} already exists"
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert cgroup_procs(cid) == [state["pid"]]


def test_init_killed_from_the_host_shows_stopped(runtime, bundle):
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "1000"]))
    runtime.start(cid)
    os.kill(runtime.state(cid)["pid"], signal.SIGKILL)
    runtime.wait_status(cid, "stopped")
    assert runtime.state(cid)["pid"] == 0
    runtime.delete(cid)
    assert leftovers(runtime, cid) == []


def test_delete_force_without_a_pid_namespace_kills_every_process(runtime, bundle):
    # Without a pid namespace the init's death does not take its children along:
    # only the cgroup finds them.
    bundle.remove_namespace("pid")
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(sh("sleep 1000 & sleep 1000 & wait")))
    runtime.start(cid)
    wait_until(lambda: len(cgroup_procs(cid)) == 3, what="3 processes in the cgroup")
    runtime.delete(cid, force=True)
    assert leftovers(runtime, cid) == []


def test_run_without_a_pid_namespace_cleans_up_orphans(runtime, bundle):
    bundle.remove_namespace("pid")
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(sh("sleep 1000 & echo started")))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "started\n"
    assert leftovers(runtime, cid) == []


def test_kill_all_of_a_created_container(runtime, bundle):
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "1000"]))
    runtime.kill(cid, "KILL", "--all")
    runtime.wait_status(cid, "stopped")
    runtime.delete(cid)
    assert leftovers(runtime, cid) == []


def test_list_shows_a_stopped_container_with_pid_0(runtime, bundle):
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["true"]))
    runtime.start(cid)
    runtime.wait_status(cid, "stopped")
    (entry,) = json.loads(runtime.ok("list", "--format", "json").stdout)
    assert (entry["id"], entry["status"], entry["pid"]) == (cid, "stopped", 0)


# --- spec ------------------------------------------------------------------------------------

@pytest.mark.parametrize("rootless", [False, True])
def test_spec_writes_a_config_that_validates(runtime, tmp_path, rootless):
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT4

    runtime.ok("spec", "--bundle", tmp_path, *(["--rootless"] if rootless else []))
    config = json.loads(read(tmp_path / "config.json"))
    resources = []
    for name in os.listdir(SPEC_DIR):
        if name.endswith(".json") and name != "state-schema.json":
            with open(os.path.join(SPEC_DIR, name)) as f:
                resources.append((name, referencing.Resource.from_contents(json.load(f), default_specification=DRAFT4)))
    registry = referencing.Registry().with_resources(resources)
    schema = registry.contents("config-schema.json")
    errors = [e.message for e in jsonschema.Draft4Validator(schema, registry=registry).iter_errors(config)]
    assert errors == []
    namespaces = [ns["type"] for ns in config["linux"]["namespaces"]]
    assert ("user" in namespaces) == rootless
    assert config["process"]["args"] == ["sh"]


def test_spec_does_not_overwrite(runtime, tmp_path):
    (tmp_path / "config.json").write_text("mine")
    result = runtime("spec", "--bundle", tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("ocirun: ") and "config.json" in result.stderr
    assert read(tmp_path / "config.json") == "mine"


def test_debug_log_lines(runtime, bundle, tmp_path):
    log = tmp_path / "log.json"
    cid = runtime.new_id()
    runtime.ok("--debug", "--log", log, "--log-format", "json", "create", "-b", bundle.set_args(["true"]), cid)
    entries = [json.loads(line) for line in read(log).splitlines()]
    assert entries and all({"level", "msg", "time"} <= set(e) for e in entries)
    assert any(e["level"] == "debug" for e in entries)


def test_relative_bundle_and_pid_file_are_resolved_against_the_cwd(runtime, bundle, tmp_path):
    bundle.set_args(["sleep", "1000"]).save()
    cid = runtime.new_id()
    runtime.ok("create", "--bundle", os.path.basename(bundle.path), "--pid-file", "rel.pid", cid, cwd=tmp_path)
    state = runtime.state(cid)
    assert state["bundle"] == bundle.path
    assert read(tmp_path / "rel.pid").strip() == str(state["pid"])


def test_exit_status_of_a_run_killed_by_sigterm(runtime, bundle, host_dir):
    # sh as pid 1 of its namespace ignores TERM unless it traps it; a child process does not
    bundle.remove_namespace("pid")

    def kill_once_sleep_runs(cid, _process):
        wait_until(lambda: "sleep" in read(f"/proc/{runtime.state(cid)['pid']}/comm"), what="exec sleep")
        runtime.kill(cid, "TERM")
    status, err, _ = run_in_foreground_until(runtime, bundle, host_dir, "exec sleep 1000",
                                             kill_once_sleep_runs)
    assert status == 128 + signal.SIGTERM, err
