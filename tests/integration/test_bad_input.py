"""Bad input: each failure is one `ocirun: ` line on stderr naming the problem, exit
status 1, and nothing left behind (no state directory, no cgroup, no process).
Unknown properties and annotations, on the other hand, are accepted."""
import json
import os
import subprocess

import pytest

from helpers import assert_clean_failure, leftovers, read


def create_raw(runtime, bundle_path, container_id):
    """create with the bundle's config.json as it is on disk."""
    return runtime("create", "--bundle", bundle_path, container_id)


def write_config(bundle, text):
    with open(bundle.config_path, "w") as f:
        f.write(text)


# --- config.json --------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["{not json", "{", '{"ociVersion": "1.3.0",}', "", "[1, 2"])
def test_config_not_valid_json(runtime, bundle, text):
    write_config(bundle, text)
    cid = runtime.new_id()
    assert_clean_failure(runtime, create_raw(runtime, bundle.path, cid), cid, "config.json", "JSON")


def test_schema_violation_message(runtime, bundle):
    bundle.process["args"] = "true"
    bundle.save()
    cid = runtime.new_id()
    result = create_raw(runtime, bundle.path, cid)
    assert_clean_failure(runtime, result, cid)
    assert result.stderr == 'ocirun: config.json: process.args: "true" is not of type array\n'


@pytest.mark.parametrize("edit, mentions", [
    (lambda c: c.pop("ociVersion"), ["ociVersion"]),
    (lambda c: c["root"].pop("path"), ["root", "path"]),
    (lambda c: c["process"].update(cwd=5), ["process.cwd"]),
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), ["linux.namespaces[5]"]),
    (lambda c: c["mounts"].append({"type": "tmpfs"}), ["mounts[6]", "destination"]),
    (lambda c: c.update(annotations={"key": 1}), ["annotations"]),
], ids=["no-ociVersion", "no-root-path", "cwd-number", "bad-namespace-type", "mount-no-destination",
        "annotation-not-string"])
def test_other_schema_violations(runtime, bundle, edit, mentions):
    edit(bundle.config)
    bundle.save()
    cid = runtime.new_id()
    assert_clean_failure(runtime, create_raw(runtime, bundle.path, cid), cid, "config.json", *mentions)


def test_missing_bundle_dir(runtime, tmp_path):
    cid = runtime.new_id()
    missing = tmp_path / "no-such-bundle"
    assert_clean_failure(runtime, create_raw(runtime, missing, cid), cid, str(missing))


def test_missing_config_json(runtime, tmp_path):
    cid = runtime.new_id()
    (tmp_path / "empty-bundle").mkdir()
    assert_clean_failure(runtime, create_raw(runtime, tmp_path / "empty-bundle", cid), cid, "config.json")


def test_missing_rootfs(runtime, bundle):
    bundle.config["root"]["path"] = "no-rootfs-here"
    bundle.save()
    cid = runtime.new_id()
    assert_clean_failure(runtime, create_raw(runtime, bundle.path, cid), cid, "no-rootfs-here")


@pytest.mark.parametrize("args0", ["no-such-command", "/bin/no-such-command", "/etc/passwd"])
def test_executable_not_in_rootfs_fails_create(runtime, bundle, args0):
    bundle.set_args([args0])
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle, cid)
    assert_clean_failure(runtime, result, cid, args0)


def test_executable_not_in_rootfs_fails_run(runtime, bundle):
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(["no-such-command"]))
    assert_clean_failure(runtime, result, cid, "no-such-command")


def test_bind_mount_of_a_missing_source(runtime, bundle, tmp_path):
    missing = str(tmp_path / "missing-source")
    bundle.bind("/data", missing)
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, cid), cid, missing)


def test_mount_destination_under_a_regular_file(runtime, bundle):
    bundle.add_mount("/etc/passwd/sub", "tmpfs", type="tmpfs", options=None)
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, cid), cid, "/etc/passwd/sub")


def test_rlimit_above_the_hosts_hard_limit(runtime, bundle):
    # no CAP_SYS_RESOURCE here: a hard limit above the host's cannot be set
    host_hard = int(read("/proc/self/limits").split("Max open files")[1].split()[1])
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": host_hard + 1, "hard": host_hard + 1}]
    cid = runtime.new_id()
    probe = subprocess.run(["sh", "-c", f"ulimit -Hn {host_hard + 1}"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this host lets root raise RLIMIT_NOFILE (CAP_SYS_RESOURCE)")
    assert_clean_failure(runtime, runtime("create", "-b", bundle, cid), cid, "RLIMIT_NOFILE")


def test_oom_score_adj_below_the_callers(runtime, bundle):
    # lowering oom_score_adj takes CAP_SYS_RESOURCE, which this kind of host does not give root
    probe = subprocess.run(["sh", "-c", "echo -1 > /proc/self/oom_score_adj"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this host lets root lower oom_score_adj (CAP_SYS_RESOURCE)")
    bundle.process["oomScoreAdj"] = -500
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, cid), cid, "oom_score_adj")


def test_unknown_capability(runtime, bundle):
    bundle.process["capabilities"]["bounding"].append("CAP_NO_SUCH_THING")
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, cid), cid, "CAP_NO_SUCH_THING")


def test_relative_cwd(runtime, bundle):
    bundle.process["cwd"] = "relative/dir"
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, cid), cid, "process.cwd")


def test_uid_mappings_without_user_namespace(runtime, bundle):
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 10}]
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, cid), cid, "uidMappings")


# --- fields that cannot be honoured as given -------------------------------------------------

def test_a_terminal_without_a_console_socket_is_refused(runtime, bundle):
    bundle.process["terminal"] = True
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, cid), cid,
                         "process.terminal: a terminal needs --console-socket")


def test_unknown_properties_and_annotations_are_accepted(runtime, bundle):
    bundle.config["org.example.extension"] = {"anything": [1, 2, 3]}
    bundle.process["org.example.unknownProcessField"] = True
    bundle.linux["org.example.unknownLinuxField"] = "x"
    bundle.config["annotations"] = {"org.example.unknown": "value", "io.kubernetes.cri.sandbox-id": "abc"}
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "1000"]))
    assert runtime.state(cid)["annotations"] == bundle.config["annotations"]


# --- ids and the state root ---------------------------------------------------------------------

@pytest.mark.parametrize("bad_id", ["a/b", "..", "../escape", "x/../../y", "", "with space"])
def test_invalid_container_id(runtime, bundle, tmp_path, bad_id):
    result = runtime("create", "-b", bundle, bad_id)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocirun: "), result.stderr
    assert "id" in lines[0]
    assert not os.path.exists(tmp_path / "escape")
    assert not os.path.isdir(runtime.root) or os.listdir(runtime.root) == []


def test_root_under_a_regular_file(runtime, bundle, tmp_path):
    (tmp_path / "a-file").write_text("")
    runtime.root = str(tmp_path / "a-file" / "root")
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle, cid)
    assert_clean_failure(runtime, result, cid, runtime.root)


@pytest.fixture
def readonly_dir(tmp_path):
    path = tmp_path / "readonly"
    path.mkdir()
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.mark.parametrize("where", ["root-itself", "below"])
def test_root_on_a_readonly_mount(runtime, bundle, readonly_dir, where):
    runtime.root = str(readonly_dir if where == "root-itself" else readonly_dir / "state")
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle, cid)
    assert_clean_failure(runtime, result, cid, runtime.root)


def test_duplicate_id_fails_cleanly_and_keeps_the_first(runtime, bundle):
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["sleep", "1000"]))
    state = runtime.state(cid)
    result = runtime("create", "-b", bundle, cid)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"ocirun: container {cid} already exists"]
    assert runtime.state(cid) == state


def test_usage_errors(runtime):
    result = runtime("create")
    assert result.returncode != 0 and result.stderr.startswith("ocirun: ")
    result = runtime("frobnicate", "x")
    assert result.returncode != 0 and "frobnicate" in result.stderr


def test_pid_file_in_a_missing_directory(runtime, bundle, tmp_path):
    # the failure comes after the init is set up: it must be killed and its cgroup removed
    cid = runtime.new_id()
    pid_file = tmp_path / "no-such-dir" / "pid"
    result = runtime("create", "--pid-file", pid_file, "-b", bundle.set_args(["sleep", "1000"]), cid)
    assert_clean_failure(runtime, result, cid, str(pid_file.parent))


# --- logs of failures --------------------------------------------------------------------------

def test_log_json_for_a_child_setup_failure(runtime, bundle, tmp_path):
    log = tmp_path / "log.json"
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle.set_args(["no-such-command"]), cid,
                     global_args=("--log", str(log), "--log-format", "json"))
    assert result.returncode == 1
    errors = [json.loads(line) for line in read(log).splitlines()]
    errors = [e for e in errors if e["level"] == "error"]
    assert len(errors) == 1
    assert "no-such-command" in errors[0]["msg"]
    assert leftovers(runtime, cid) == []


def test_run_failure_leaves_nothing(runtime, bundle, tmp_path):
    missing = str(tmp_path / "missing-source")
    bundle.bind("/data", missing)
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime.run(cid, bundle), cid, missing)


@pytest.mark.parametrize("edit, named", [
    (lambda c: c["linux"].update(memoryPolicy={}), "linux.memoryPolicy.mode: required"),
    (lambda c: c["linux"].update(personality={}), "linux.personality.domain: required"),
    (lambda c: c.pop("root"), "root.path: required"),
    (lambda c: c["linux"].update(cgroupsPath="/a\0b"), "linux.cgroupsPath: contains a NUL byte"),
    (lambda c: c["process"]["env"].append("A=\0"), "process.env[2]: contains a NUL byte"),
    (lambda c: c["linux"].update(timeOffsets={"realtime": {"secs": 1}}), "linux.timeOffsets.realtime"),
])
def test_what_the_schema_lets_through_is_named(runtime, bundle, edit, named):
    """Each of these once ended in a Python traceback (KeyError, ValueError:
    embedded null byte, AttributeError)."""
    edit(bundle.config)
    cid = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "--bundle", bundle, cid), cid, named)


@pytest.mark.parametrize("where, name", [
    ("capability key", "\0\x85"), ("capability", "CAP_\x85"), ("capability", "CAP_A\nB"),
    ("capability", "CAP_\u2028"), ("capability", "CAP_\tX")])
def test_a_name_with_line_breaks_stays_on_one_line(runtime, bundle, where, name):
    """A name from the config is quoted into the error; characters that break
    a line (U+0085 and U+2028 do for Python's splitlines) are escaped, so the
    error is still one line (the property test once found "\\0\\x85")."""
    bundle.config["process"]["capabilities"] = \
        {name: None} if where == "capability key" else {"bounding": [name]}
    cid = runtime.new_id()
    result = runtime("create", "--bundle", bundle, cid)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("ocirun: "), result.stderr
    assert name.encode("unicode_escape").decode() in result.stderr
    assert not leftovers(runtime, cid)
