"""Behaviours where the runtime spec is silent and callers rely on what runc
does: each found by running runc's own integration suite (v1.1.5) or by
driving both runtimes with the same config.  Each test runs with ocirun and
with runc 1.1.5 (`ocirun_and_runc`), so that a test that cannot fail is
caught; the few that are ocirun's alone say why.
"""
import json
import os

import pytest

from helpers import leftovers, sh, wait_for_file


def run_output(rt, bundle, *options):
    result = rt.run(rt.new_id(), bundle, *options)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# --- mounts ---------------------------------------------------------------

def test_tmpfs_takes_the_mode_of_the_directory_it_covers(ocirun_and_runc, bundle):
    os.mkdir(os.path.join(bundle.rootfs, "covered"))
    os.chmod(os.path.join(bundle.rootfs, "covered"), 0o712)
    bundle.add_mount("/covered", "tmpfs", type="tmpfs", options=["nosuid"])
    bundle.add_mount("/made", "tmpfs", type="tmpfs", options=["nosuid"])  # the kernel's 1777
    bundle.add_mount("/chosen", "tmpfs", type="tmpfs", options=["mode=750"])
    bundle.set_args(["stat", "-c", "%a", "/covered", "/made", "/chosen"])
    assert run_output(ocirun_and_runc, bundle).split() == ["712", "1777", "750"]


def test_read_only_dev_gets_its_submounts_and_nodes_first(ocirun_and_runc, bundle):
    dev = next(m for m in bundle.config["mounts"] if m["destination"] == "/dev")
    dev["options"].append("ro")
    bundle.set_args(sh("test -c /dev/null && test -d /dev/pts && grep -c ' /dev/pts ' /proc/mounts"
                       " && touch /dev/file 2>&1; echo done"))
    output = run_output(ocirun_and_runc, bundle)
    assert output.startswith("1\n") and "Read-only file system" in output, output


# --- the process ----------------------------------------------------------

def test_cwd_is_entered_before_the_user_is_switched(ocirun_and_runc, bundle):
    private = os.path.join(bundle.rootfs, "private")
    os.mkdir(private, 0o700)  # root's; user 1000 may not enter it
    bundle.process["cwd"] = "/private"
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.set_args(sh("echo $PWD; id -u; ls . 2>&1 >/dev/null | grep -c 'Permission denied'"))
    assert run_output(ocirun_and_runc, bundle).split() == ["/private", "1000", "1"]


def test_missing_cwd_is_made(ocirun_and_runc, bundle):
    bundle.process["cwd"] = "/made/for/me"
    bundle.set_args(["pwd"])
    assert run_output(ocirun_and_runc, bundle) == "/made/for/me\n"


def test_exec_process_leads_its_own_process_group(runtime, bundle):
    # ocirun's own: runc leaves an exec'd process in the caller's group, which
    # lies outside the container's pid namespace (getpgrp() returns 0 there)
    # and job control in the container breaks; ocirun gives it its own.
    cid = runtime.new_id()
    runtime.run(cid, bundle.set_args(["sleep", "30"]), "-d")
    result = runtime.ok("exec", cid, "sh", "-c", "read pid comm state ppid pgrp rest < /proc/$$/stat;"
                        " echo $pid $pgrp")
    pid, pgrp = result.stdout.split()
    assert pid == pgrp and pgrp != "0"


def test_sysctl_domainname_equal_to_the_field_is_accepted(ocirun_and_runc, bundle):
    bundle.config["domainname"] = "example.test"
    bundle.linux["sysctl"] = {"kernel.domainname": "example.test"}
    bundle.set_args(["cat", "/proc/sys/kernel/domainname"])
    assert run_output(ocirun_and_runc, bundle) == "example.test\n"


# --- hooks ----------------------------------------------------------------

def test_in_container_hooks_run_from_the_containers_root(ocirun_and_runc, bundle, host_dir):
    rootfs = os.path.realpath(bundle.rootfs)
    bundle.bind("/out", str(host_dir))
    bundle.config["hooks"] = {
        # before the pivot: the rootfs is where the container's / will be
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"pwd > {host_dir}/create"]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "pwd > /out/start"]}],
    }
    bundle.set_args(["true"])
    run_output(ocirun_and_runc, bundle)
    assert (host_dir / "create").read_text() == rootfs + "\n"
    assert (host_dir / "start").read_text() == "/\n"


def test_runtime_hooks_without_env_get_the_runtimes_environment(ocirun_and_runc, bundle, host_dir,
                                                                 monkeypatch):
    monkeypatch.setenv("OCIRUN_TEST_HOOK_VAR", "from-the-caller")
    bundle.config["hooks"] = {
        "prestart": [{"path": "/bin/sh",
                      "args": ["sh", "-c", f"echo $OCIRUN_TEST_HOOK_VAR > {host_dir}/plain"]}],
        "poststop": [{"path": "/bin/sh", "env": ["ONLY=this"],
                      "args": ["sh", "-c", f"echo ${{OCIRUN_TEST_HOOK_VAR:-unset}} $ONLY > {host_dir}/given"]}],
    }
    bundle.set_args(["true"])
    run_output(ocirun_and_runc, bundle)
    assert (host_dir / "plain").read_text() == "from-the-caller\n"
    assert (host_dir / "given").read_text() == "unset this\n"


# --- the CLI --------------------------------------------------------------

def test_run_keep_leaves_the_stopped_container(ocirun_and_runc, bundle):
    cid = ocirun_and_runc.new_id()
    result = ocirun_and_runc.run(cid, bundle.set_args(sh("exit 3")), "--keep")
    assert result.returncode == 3
    assert ocirun_and_runc.status(cid) == "stopped"
    ocirun_and_runc.ok("delete", cid)
    assert cid not in ocirun_and_runc.list_ids()


def test_unusable_log_path_fails(ocirun_and_runc, bundle, tmp_path):
    cid = ocirun_and_runc.new_id()
    result = ocirun_and_runc("--log", str(tmp_path / "no" / "such" / "dir" / "log"),
                             "run", "--bundle", bundle.set_args(["true"]), cid)
    assert result.returncode != 0
    assert cid not in ocirun_and_runc.list_ids()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_debug_writes_debug_lines_to_the_log(ocirun_and_runc, bundle, tmp_path, log_format):
    log = tmp_path / "log"
    result = ocirun_and_runc("--debug", "--log", str(log), "--log-format", log_format,
                             "run", "--bundle", bundle.set_args(["true"]), ocirun_and_runc.new_id())
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = log.read_text().splitlines()
    assert lines
    if log_format == "json":
        entries = [json.loads(line) for line in lines]
        assert all({"level", "msg", "time"} <= set(entry) for entry in entries)
        assert any(entry["level"] == "debug" for entry in entries)
    else:
        assert any(line.startswith('time="') and " level=debug msg=" in line for line in lines), lines


def test_debug_without_log_writes_to_stderr(ocirun_and_runc, bundle):
    result = ocirun_and_runc("--debug", "run", "--bundle", bundle.set_args(["echo", "out"]),
                             ocirun_and_runc.new_id())
    assert result.returncode == 0 and result.stdout == "out\n"
    assert "level=debug" in result.stderr


def test_default_config_runs_without_a_warning(ocirun_and_runc, tmp_path, bundle):
    # runc's `spec` raises ambient capabilities that are not inheritable:
    # runc skips them silently, so must ocirun (a line on stderr is read as
    # the container's output by callers that merge the two)
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    ocirun_and_runc.ok("spec", cwd=str(spec_dir))
    config = json.loads((spec_dir / "config.json").read_text())
    bundle.process["capabilities"] = config["process"]["capabilities"]
    result = ocirun_and_runc.run(ocirun_and_runc.new_id(), bundle.set_args(["echo", "out"]))
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "")


@pytest.mark.parametrize("command", ["checkpoint", "restore", "exec", "run", "events", "update"])
def test_command_help_exits_0(ocirun_and_runc, command):
    result = ocirun_and_runc(command, "--help")
    assert result.returncode == 0
    assert command in result.stdout and "usage" in result.stdout.lower()


def test_help_is_laid_out_as_runcs(ocirun_and_runc):
    # help.bats reads lines by number: NAME:, then "PROGRAM [COMMAND] - ..."
    program = os.path.basename(ocirun_and_runc.command[0])
    for args, named in [(["-h"], program), (["--help"], program), (["delete", "-h"], program + " delete"),
                        (["list", "--help"], program + " list")]:
        result = ocirun_and_runc(*args)
        assert result.returncode == 0 and result.stdout.splitlines()[:2] == \
            ["NAME:", f"   {named} - {result.stdout.splitlines()[1].split(' - ', 1)[1]}"], result.stdout
    unknown = ocirun_and_runc("foo", "-h")
    assert unknown.returncode == 3 and "No help topic for 'foo'" in unknown.stderr


def test_unknown_command_and_flag_exit_as_runc_does(ocirun_and_runc):
    command = ocirun_and_runc("no-such-command")
    assert command.returncode == 3 and "no-such-command" in command.stderr
    flag = ocirun_and_runc("state", "--no-such-flag", "x")
    assert flag.returncode == 1 and "no-such-flag" in flag.stderr


def test_exec_failures_of_the_runtime_exit_255(ocirun_and_runc, bundle):
    rt = ocirun_and_runc
    cid = rt.new_id()
    rt.run(cid, bundle.set_args(["sleep", "30"]), "-d")
    assert rt("exec", cid, "sh", "-c", "exit 7").returncode == 7  # the process's own status
    assert rt("exec", cid, "/no/such/program").returncode == 255
    rt.ok("pause", cid)
    try:
        assert rt("exec", cid, "true").returncode == 255  # --ignore-paused: test_exec.py
    finally:
        rt.ok("resume", cid)


def test_an_executable_the_kernel_refuses_fails_with_runcs_words_and_status(ocirun_and_runc, bundle):
    # found by the image-module test: ocirun exited 127 with its own wording;
    # runc's init says it as Go spells errno and exits 1 (Docker shows this line)
    rt = ocirun_and_runc
    program = os.path.join(bundle.rootfs, "bin", "not-a-program")
    with open(program, "wb") as garbage:
        garbage.write(b"\0\1\2 not an executable format")
    os.chmod(program, 0o755)
    result = rt.run(rt.new_id(), bundle.set_args(["/bin/not-a-program"]))
    words = "exec /bin/not-a-program: exec format error"
    assert (result.returncode, result.stderr.strip()) == (1, words), result.stderr
    cid = rt.new_id()
    rt.run(cid, bundle.set_args(["sleep", "30"]), "-d")
    result = rt("exec", cid, "/bin/not-a-program")
    assert (result.returncode, result.stderr.strip()) == (1, words), result.stderr


@pytest.mark.parametrize("entry, words", [("", 'invalid environment variable: ""'),
                                          ("NOEQUALS", 'invalid environment variable: "NOEQUALS"'),
                                          ("=x", 'environment variable name can\'t be empty: "=x"')])
def test_an_env_entry_runc_refuses_is_refused_before_anything_runs(ocirun_and_runc, bundle, entry, words):
    # found by the property test: "" passed the checks and killed the init
    # after create, so that run failed with no word at all
    rt = ocirun_and_runc
    bundle.process["env"].append(entry)
    cid = rt.new_id()
    result = rt.run(cid, bundle.set_args(["true"]))
    # (runc's logrus line escapes the quotes)
    assert result.returncode == 1 and words in result.stderr.replace('\\"', '"'), result.stderr
    assert not leftovers(rt, cid)
    del bundle.process["env"][-1]
    rt.run(cid, bundle.set_args(["sleep", "30"]), "-d")
    refused = rt("exec", "--env", entry, cid, "true")
    assert refused.returncode == 255 and words in refused.stderr.replace('\\"', '"'), refused.stderr


# --- user namespaces ------------------------------------------------------

@pytest.fixture
def root_only_source(tmp_path):
    """A host directory below one that only host root may enter (mode 0000)."""
    closed = tmp_path / "closed"
    (closed / "data").mkdir(parents=True)
    (closed / "data" / "file").write_text("reached\n")
    closed.chmod(0)
    os.chmod(tmp_path, 0o755)
    yield closed / "data"
    closed.chmod(0o755)


@pytest.mark.parametrize("options", [["bind"], ["rbind", "ro"], ["bind", "idmap"]])
def test_bind_sources_are_opened_as_host_root(ocirun_and_runc, make_bundle, public_dir, root_only_source,
                                              options):
    from helpers import add_user_namespace
    bundle = make_bundle(["cat", "/m/file"], name=os.path.join(public_dir, "bundle"))
    os.chmod(bundle.path, 0o755)
    os.mkdir(os.path.join(bundle.rootfs, "m"))  # the rootfs is host root's: its root cannot make it
    add_user_namespace(bundle)
    bundle.add_mount("/m", str(root_only_source), type="bind", options=options)
    assert run_output(ocirun_and_runc, bundle) == "reached\n"


# --- cgroups and signals --------------------------------------------------

def test_a_frozen_cgroup_is_refused(ocirun_and_runc, bundle):
    import uuid

    from helpers import CGROUP_ROOT, unified_only
    path = f"/oci-test-frozen-{uuid.uuid4().hex[:8]}"
    bundle.linux["cgroupsPath"] = path
    if unified_only():
        directory, state_file, frozen = os.path.join(CGROUP_ROOT, path.lstrip("/")), "cgroup.freeze", "1"
    else:
        directory, state_file, frozen = os.path.join(CGROUP_ROOT, "freezer", path.lstrip("/")), "freezer.state", "FROZEN"
    os.mkdir(directory)
    try:
        with open(os.path.join(directory, state_file), "w") as f:
            f.write(frozen)
        cid = ocirun_and_runc.new_id()
        result = ocirun_and_runc.run(cid, bundle.set_args(["true"]), "-d")
        assert result.returncode == 1 and "container's cgroup unexpectedly frozen" in result.stderr, result.stderr
        assert cid not in ocirun_and_runc.list_ids()
    finally:
        with open(os.path.join(directory, state_file), "w") as f:
            f.write("0" if unified_only() else "THAWED")
        os.rmdir(directory)


def test_signal_0_checks_and_kill_all_of_a_stopped_container_succeeds(ocirun_and_runc, bundle):
    rt = ocirun_and_runc
    cid = rt.new_id()
    rt.run(cid, bundle.set_args(["sleep", "30"]), "-d")
    rt.ok("kill", cid, "0")
    rt.ok("kill", cid, "KILL")
    rt.wait_status(cid, "stopped")
    rt.ok("kill", "--all", cid, "0")
    assert "container not running" in rt("kill", cid, "0").stderr


def test_one_line_json_is_compact_as_go_writes_it(ocirun_and_runc, bundle, tmp_path):
    rt = ocirun_and_runc
    cid = rt.new_id()
    rt.run(cid, bundle.set_args(["sleep", "30"]), "-d")
    assert rt.ok("events", "--stats", cid).stdout.startswith('{"type":"stats","id":"' + cid + '","data":{')
    assert rt.ok("list", "--format", "json").stdout.startswith('[{"ociVersion":"')
    assert rt.ok("ps", "--format", "json", cid).stdout.startswith("[")
    rt("--log", str(tmp_path / "log"), "--log-format", "json", "kill", "no-such-container")
    assert (tmp_path / "log").read_text().startswith('{"level":"error","msg":')


def test_a_reader_that_stops_early_gets_no_traceback(runtime):
    import subprocess
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -0` does
    result = subprocess.run(runtime.argv("--version"), stdout=write_end, stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert result.stderr == "" and result.returncode == 141


def test_events_start_after_one_interval_and_end_quietly_on_a_closed_pipe(ocirun_and_runc, bundle):
    import subprocess
    import time
    rt = ocirun_and_runc
    cid = rt.new_id()
    rt.run(cid, bundle.set_args(["sleep", "30"]), "-d")
    events = rt.popen("events", "--interval", "1s", cid)
    started = time.monotonic()
    first = events.stdout.readline()
    assert time.monotonic() - started >= 0.9 and first.startswith('{"type":"stats"')
    events.stdout.close()  # as `| head -1` does
    assert events.wait(10) in (141, -13)  # killed by SIGPIPE (runc), or ending as if (ocirun)
    assert events.stderr.read() == ""
    rt.delete(cid, force=True)
