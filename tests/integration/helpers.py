"""Container test plumbing: the ocirun CLI as a subprocess (Runtime), busybox
bundles whose config.json a test edits (Bundle), and the checks that a test
left the host as it found it (no state, no cgroup, no process, /dev intact).

Fixtures: `runtime` (a Runtime on a fresh --root, cleaned and checked at
teardown), `bundle` (a busybox Bundle, args `sh`) and `make_bundle` (a factory
for more), `host_dir` (a host directory containers can bind and write to) and
`host_dir_with_submount` (the same with a tmpfs mounted at sub/).
"""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid

import pytest

from ocirun import bundles

CGROUP_ROOT = "/sys/fs/cgroup"
SECCOMP_CACHE = "~seccomp-bpf"  # ocirun's compiled seccomp programs, beside the containers
TIMEOUT = 30  # seconds for one CLI call; a container test never needs that long


# a user namespace's mappings: container ids 0-65535 are host ids 100000-165535
USER_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def sh(script):
    """process.args for a busybox shell script."""
    return ["sh", "-c", script]


class Bundle:
    """A busybox bundle on disk; edit `config` then `save()` (Runtime saves before create/run)."""

    def __init__(self, path, args):
        bundles.build_busybox_bundle(path, args=args)
        self.path = path
        self.rootfs = os.path.join(path, "rootfs")
        with open(self.config_path) as f:
            self.config = json.load(f)

    @property
    def config_path(self):
        return os.path.join(self.path, "config.json")

    @property
    def process(self):
        return self.config["process"]

    @property
    def linux(self):
        return self.config["linux"]

    def set_args(self, args):
        self.process["args"] = list(args)
        return self

    def save(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent="\t")

    def add_mount(self, destination, source, type="none", options=("bind",)):
        mount = {"destination": destination, "type": type, "source": source}
        if options is not None:
            mount["options"] = list(options)
        self.config["mounts"].append(mount)
        return mount

    def bind(self, destination, source, *extra_options):
        return self.add_mount(destination, source, options=("bind",) + extra_options)

    def add_namespace(self, ns_type, path=None):
        self.remove_namespace(ns_type)
        entry = {"type": ns_type}
        if path:
            entry["path"] = path
        self.linux["namespaces"].append(entry)

    def remove_namespace(self, ns_type):
        self.linux["namespaces"] = [ns for ns in self.linux["namespaces"] if ns["type"] != ns_type]


class Runtime:
    """ocirun on one --root; every method runs the CLI once and returns its CompletedProcess
    (text), except the assertive ones (create, start, state, ...) which fail the test with
    the command's stderr when it does not succeed."""

    def __init__(self, command, root):
        self.command = list(command)
        self.root = str(root)
        self.ids = []  # every id handed out, for the teardown checks
        self.global_args = ()  # given to every call that names none

    def new_id(self, hint="c"):
        container_id = f"oci-test-{hint}-{uuid.uuid4().hex[:10]}"
        self.ids.append(container_id)
        return container_id

    def argv(self, *args, global_args=None):
        """The command line; a Bundle among args is saved and stands for its path."""
        global_args = self.global_args if global_args is None else global_args
        return self.command + ["--root", self.root, *global_args, *map(_argument, args)]

    def __call__(self, *args, input=None, timeout=TIMEOUT, global_args=None, **popen_options):
        """Run `ocirun --root R ARGS...`; never raises on a non-zero exit.

        stdout and stderr go to files, not pipes: a created or detached container keeps
        the caller's stdio, so a pipe would not see EOF until the container exits."""
        if input is None and "stdin" not in popen_options:
            popen_options["stdin"] = subprocess.DEVNULL
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            result = subprocess.run(self.argv(*args, global_args=global_args), input=input,
                                    text=True, stdout=out, stderr=err, timeout=timeout,
                                    **popen_options)
            out.seek(0)
            err.seek(0)
            result.stdout = out.read().decode(errors="replace")
            result.stderr = err.read().decode(errors="replace")
        return result

    def popen(self, *args, **popen_options):
        """Start `ocirun --root R ARGS...` in the background (e.g. a foreground `run`)."""
        popen_options.setdefault("stdin", subprocess.DEVNULL)
        popen_options.setdefault("stdout", subprocess.PIPE)
        popen_options.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.argv(*args), text=True, **popen_options)

    def ok(self, *args, **options):
        result = self(*args, **options)
        assert result.returncode == 0, (
            f"ocirun {' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    # --- one method per verb ------------------------------------------------

    def create(self, container_id, bundle, *options, **call_options):
        _save(bundle)
        return self.ok("create", "--bundle", _path(bundle), *options, container_id, **call_options)

    def start(self, container_id):
        return self.ok("start", container_id)

    def state(self, container_id):
        return json.loads(self.ok("state", container_id).stdout)

    def status(self, container_id):
        return self.state(container_id)["status"]

    def kill(self, container_id, *signal_and_options):
        return self.ok("kill", container_id, *signal_and_options)

    def delete(self, container_id, force=False):
        return self.ok("delete", *(["--force"] if force else []), container_id)

    def list_ids(self):
        return self.ok("list", "-q").stdout.split()

    def run(self, container_id, bundle, *options, **call_options):
        """`ocirun run` in the foreground: returns the CompletedProcess, whatever the exit status."""
        _save(bundle)
        return self("run", "--bundle", _path(bundle), *options, container_id, **call_options)

    def output(self, bundle, args=None, *options, **call_options):
        """Run the bundle (with `args` as process.args, if given) to completion; assert it
        exits 0 and return its stdout."""
        if args is not None:
            bundle.set_args(args)
        container_id = self.new_id("run")
        result = self.run(container_id, bundle, *options, **call_options)
        assert result.returncode == 0, (
            f"run {bundle.process['args']} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result.stdout

    def wait_status(self, container_id, wanted, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(container_id)
            if status == wanted or time.monotonic() > deadline:
                assert status == wanted, f"container {container_id} is {status}, not {wanted}"
                return
            time.sleep(0.02)

    # --- teardown -----------------------------------------------------------

    def remove_everything(self):
        """Force-delete whatever is left under the root; return what could not be deleted."""
        failures = []
        if not os.path.isdir(self.root):
            return failures
        for container_id in sorted(os.listdir(self.root)):
            if container_id == SECCOMP_CACHE:
                continue
            result = self("delete", "-f", container_id)
            if result.returncode != 0 or os.path.exists(os.path.join(self.root, container_id)):
                failures.append(f"delete -f {container_id}: {result.stderr.strip()}")
        return failures


def _argument(arg):
    if isinstance(arg, Bundle):
        arg.save()
        return arg.path
    return str(arg)


def _save(bundle):
    if isinstance(bundle, Bundle):
        bundle.save()


def _path(bundle):
    return bundle.path if isinstance(bundle, Bundle) else str(bundle)


# --- what a container may leave behind ----------------------------------------

def runtime_interpreter(rt):
    """The interpreter that runs ocirun's command (its script's #! line, whose
    flags, -IS, are left out: run without them it searches a superset of the
    paths the command searches)."""
    with open(rt.command[0]) as script:
        return script.readline()[2:].split()[0]


def unified_only():
    """Whether this host is cgroup v2 alone (as in the tests' VM)."""
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


@pytest.fixture
def loop_device(tmp_path):
    """A block device of the test's own, on an 8 MiB file (the VM's root is
    9p): (major, minor, its name under /sys/block)."""
    backing = tmp_path / "disk"
    backing.write_bytes(b"\0" * (8 << 20))
    device = subprocess.run(["losetup", "-f", "--show", str(backing)], check=True, capture_output=True,
                            text=True).stdout.strip()
    rdev = os.stat(device).st_rdev
    yield os.major(rdev), os.minor(rdev), os.path.basename(device)
    subprocess.run(["losetup", "-d", device], check=True)


def build_probe(name, directory):
    """Compile probes/<name>.c statically (a container has no libc to link
    against); returns the program's path."""
    path = os.path.join(str(directory), name)
    subprocess.run(["gcc", "-static", "-O2", "-o", path, os.path.join(os.path.dirname(__file__), "probes", name + ".c")],
                   check=True)
    return path


def mounted_cgroups_of(pid):
    """{controllers: path} from /proc/PID/cgroup for the hierarchies this host
    mounts ("" for the unified one).  A hierarchy can outlive its mount (a
    test's net_cls one, say): nothing reaches it, so it is left out."""
    from ocirun.cgroups import mounted_hierarchies
    mounted = {"" if name == "unified" else name for name in mounted_hierarchies()}
    placed = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if ",".join(sorted(controllers.split(","))) in mounted or controllers in mounted:
                placed[controllers] = path
    return placed


def cgroup_dirs(container_id):
    """The container's cgroup directories that exist, in every hierarchy."""
    if unified_only():
        path = os.path.join(CGROUP_ROOT, "ocirun", container_id)
        return [path] if os.path.isdir(path) else []
    found = []
    for hierarchy in sorted(os.listdir(CGROUP_ROOT)):
        path = os.path.join(CGROUP_ROOT, hierarchy, "ocirun", container_id)
        if os.path.isdir(path):
            found.append(path)
    return found


def cgroup_procs(container_id):
    """Pids in the container's cgroup (the pids hierarchy, or the first one that has it)."""
    for path in cgroup_dirs(container_id):
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(line) for line in f if line.strip()]
    return []


def processes_of(container_id, root):
    """Host pids that belong to the container: in its cgroup, or still running ocirun's
    own code with the container's id and root on the command line (a stray init)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cgroup") as f:
                cgroups = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
            with open(f"/proc/{name}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if zombie:
            continue
        in_cgroup = f"/ocirun/{container_id}\n" in cgroups
        stray_init = container_id.encode() in cmdline and str(root).encode() in b" ".join(cmdline)
        if in_cgroup or stray_init:
            pids.append(int(name))
    return pids


def leftovers(runtime, container_id):
    """Everything of the container still on the host, as readable strings."""
    found = []
    state_dir = os.path.join(runtime.root, container_id)
    if os.path.lexists(state_dir):
        found.append(f"state directory {state_dir}")
    found += [f"cgroup {path}" for path in cgroup_dirs(container_id)]
    found += [f"process {pid} ({describe_process(pid)})" for pid in processes_of(container_id, runtime.root)]
    return found


def describe_process(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return "gone"
    return f"state {state}, comm {comm}, cmdline {cmdline[:200]}"


def purge(container_id, root):
    """Last resort after a runtime bug: kill the container's processes and remove its cgroups."""
    for pid in processes_of(container_id, root):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    for path in cgroup_dirs(container_id):
        while time.monotonic() < deadline:
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.02)


def dev_null_problem():
    """None when the host's /dev/null is still a root:root 0666 character device 1:3."""
    st = os.stat("/dev/null")
    if (stat.S_ISCHR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666 and st.st_uid == 0
            and st.st_gid == 0 and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)):
        return None
    return (f"host /dev/null changed: mode {oct(st.st_mode)} owner {st.st_uid}:{st.st_gid} "
            f"rdev {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")


def repair_dev_null():
    os.unlink("/dev/null")
    os.mknod("/dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.chmod("/dev/null", 0o666)


def wait_for_file(path, timeout=10, process=None):
    """Wait until `path` exists; fail early if `process` (a Popen) exits first."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"{path} never appeared: the command exited {process.returncode}: {err}{out}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {timeout}s")
        time.sleep(0.02)


def wait_until(predicate, timeout=10, what="condition"):
    """Poll `predicate` until it returns true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


def read(path):
    with open(path) as f:
        return f.read()


# --- fixtures (imported by conftest.py) -------------------------------------------

@pytest.fixture
def runtime(ocirun_command, tmp_path):
    """A Runtime on a fresh --root; at teardown everything is force-deleted and the test
    fails if any of its containers left a state dir, a cgroup or a process, or if the
    host's /dev/null or hostname changed."""
    hostname = os.uname().nodename
    rt = Runtime(ocirun_command, tmp_path / "root")
    yield rt
    problems = rt.remove_everything()
    for container_id in rt.ids:
        left = [item for item in leftovers(rt, container_id) if not item.startswith("state")]
        if left:
            problems.append(f"{container_id} left behind after delete -f: {', '.join(left)}")
            purge(container_id, rt.root)
    dev_null = dev_null_problem()
    if dev_null:
        repair_dev_null()
        problems.append(dev_null)
    if os.uname().nodename != hostname:
        problems.append(f"host renamed from {hostname!r} to {os.uname().nodename!r}")
        subprocess.run(["hostname", hostname], check=False)
    if problems:
        pytest.fail("host not left as it was:\n" + "\n".join(problems))


@pytest.fixture(params=["ocirun", "runc"])
def ocirun_and_runc(request, runtime, tmp_path):
    """ocirun's Runtime, then one that runs runc 1.1.5, the reference, on its
    own --root: a test that must hold for both runs twice."""
    if request.param == "ocirun":
        yield runtime
        return
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc, the reference, is not installed")
    rt = Runtime([runc], tmp_path / "runc-root")
    yield rt
    rt.remove_everything()


@pytest.fixture
def make_bundle(tmp_path):
    """make_bundle(args=None, name=None) -> a new busybox Bundle under tmp_path."""
    counter = iter(range(1000))

    def make(args=None, name=None):
        return Bundle(str(tmp_path / (name or f"bundle{next(counter)}")), args)
    return make


@pytest.fixture
def bundle(make_bundle):
    """A busybox bundle whose process is `sh`; tests set args and edit config."""
    return make_bundle(["sh"], name="bundle")


@pytest.fixture
def host_dir(tmp_path):
    """A host directory (mode 0777) to bind into containers and read back from."""
    path = tmp_path / "host"
    path.mkdir()
    path.chmod(0o777)
    return path


@pytest.fixture
def host_dir_with_submount(host_dir):
    """host_dir with a small tmpfs mounted at sub/, holding sub/inner."""
    sub = host_dir / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "ocirun-test", str(sub)], check=True)
    try:
        (sub / "inner").write_text("in submount\n")
        yield host_dir
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)


@pytest.fixture
def public_dir():
    """A world-searchable temp dir, for bundles a container's mapped root must reach."""
    path = tempfile.mkdtemp(prefix="ocirun-test-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def add_user_namespace(bundle):
    bundle.add_namespace("user")
    bundle.linux["uidMappings"] = list(USER_MAP)
    bundle.linux["gidMappings"] = list(USER_MAP)


def assert_clean_failure(runtime, result, container_id, *mentions):
    """A command that failed as ocirun must: one error line naming what is wrong, exit 1,
    nothing left of the container."""
    assert result.returncode == 1, f"exit {result.returncode}\nstderr: {result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{result.stderr}"
    assert lines[0].startswith("ocirun: "), lines[0]
    assert "Traceback" not in result.stderr and "[Errno" not in lines[0], lines[0]
    for text in mentions:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    assert result.stdout == ""
    assert leftovers(runtime, container_id) == []
    if os.path.isdir(runtime.root):
        assert runtime.ok("list", "-q").stdout == ""


def create_fails_cleanly(runtime, bundle, *mentions):
    container_id = runtime.new_id()
    assert_clean_failure(runtime, runtime("create", "-b", bundle, container_id), container_id, *mentions)


DBUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{bus_type}</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def start_dbus_daemon(config_path, socket, bus_type="system"):
    """A dbus-daemon of the test's own listening at `socket`, open to every
    user; returns (process, its address). The test terminates it."""
    with open(config_path, "w") as f:
        f.write(DBUS_CONFIG.format(bus_type=bus_type, socket=socket))
    daemon = subprocess.Popen(["dbus-daemon", f"--config-file={config_path}", "--nofork", "--nosyslog",
                               "--print-address=1"], stdout=subprocess.PIPE, text=True)
    return daemon, daemon.stdout.readline().strip()
