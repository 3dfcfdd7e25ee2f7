"""linux.seccomp against the kernel: actions, errno values, argument
filters, architectures, the notify listener, and bad profiles."""
import errno
import fcntl
import json
import os
import shutil
import socket
import struct
import threading

import pytest

from helpers import build_probe, create_fails_cleanly, sh
from ocirun.config import oci_seccomp_from_containers_profile

PODMAN_PROFILE = "/usr/share/containers/seccomp.json"  # Debian: golang-github-containers-common

ALL_X86 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


@pytest.fixture(autouse=True)
def writable_tmp(bundle):
    """The bundle's root is read-only: give the tests a /tmp where mkdir can work."""
    bundle.add_mount("/tmp", "tmpfs", type="tmpfs", options=["size=1m"])


def profile(*rules, default="SCMP_ACT_ALLOW", **fields):
    return {"defaultAction": default, "architectures": ALL_X86, "syscalls": list(rules), **fields}


def rule(names, action="SCMP_ACT_ERRNO", **fields):
    return {"names": list(names), "action": action, **fields}


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_denied_mkdir_fails_with_eperm(runtime, bundle, no_new_privileges):
    """Loaded with and without no_new_privs (then before the user switch)."""
    bundle.process["noNewPrivileges"] = no_new_privileges
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"]))
    out = runtime.output(bundle, sh("mkdir /tmp/x 2>&1; grep Seccomp: /proc/self/status"))
    assert "Operation not permitted" in out and "Seccomp:\t2" in out


def test_errno_ret_is_honoured(runtime, bundle):
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], errnoRet=errno.EROFS))
    assert "Read-only file system" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))


def test_default_errno_ret(runtime, bundle):
    bundle.linux["seccomp"] = profile(rule(["getpid"], action="SCMP_ACT_ALLOW"), default="SCMP_ACT_ALLOW")
    bundle.linux["seccomp"]["syscalls"].append(rule(["mkdir", "mkdirat"]))
    bundle.linux["seccomp"]["defaultErrnoRet"] = None
    del bundle.linux["seccomp"]["defaultErrnoRet"]
    assert "Operation not permitted" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))


def test_args_filter_denies_only_the_matching_call(runtime, bundle):
    # personality(0xffffffff) only queries; deny personality(PER_LINUX32) alone
    bundle.linux["seccomp"] = profile(rule(["personality"], args=[
        {"index": 0, "value": 0x0008, "op": "SCMP_CMP_EQ"}]))
    out = runtime.output(bundle, sh("setarch linux32 true 2>&1 && echo linux32-ran; uname -m"))
    assert "linux32-ran" not in out and "x86_64" in out


def test_masked_eq_on_the_same_argument_twice_is_an_or(runtime, bundle):
    """Two comparisons on one argument become two rules (runc's rule)."""
    bundle.linux["seccomp"] = profile(rule(["chmod"], args=[
        {"index": 1, "value": 0o777, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ"},
        {"index": 1, "value": 0o777, "valueTwo": 0o750, "op": "SCMP_CMP_MASKED_EQ"}]))
    out = runtime.output(bundle, sh("touch /tmp/f; chmod 700 /tmp/f 2>&1; chmod 750 /tmp/f 2>&1; "
                                    "chmod 755 /tmp/f && echo 755-set"))
    assert out.count("Operation not permitted") == 2 and "755-set" in out


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_TRAP"])
def test_kill_and_trap_give_159_from_run(runtime, bundle, action):
    """All end the single-threaded mkdir with SIGSYS (TRAP: its default action)."""
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], action=action))
    result = runtime.run(runtime.new_id(), bundle.set_args(["mkdir", "/tmp/x"]))
    assert result.returncode == 128 + 31  # SIGSYS


def test_trace_without_a_tracer_fails_the_call_with_enosys(runtime, bundle):
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], action="SCMP_ACT_TRACE", errnoRet=7))
    assert "Function not implemented" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))


def test_with_no_new_privileges_only_exec_runs_filtered_of_ocirun(runtime, bundle):
    """The filter is loaded right before execve: the init's ready message
    (sendmsg), the start barrier (read) and the rest stay unfiltered."""
    bundle.process["noNewPrivileges"] = True
    # what the init uses after create and echo does not
    bundle.linux["seccomp"] = profile(rule(["sendto", "sendmsg", "recvfrom", "recvmsg", "socketpair"]))
    assert runtime.output(bundle, ["echo", "no messaging"]).strip() == "no messaging"


def test_a_filter_the_kernel_refuses_after_start_fails_start(runtime, bundle):
    """Loaded after start, a failure must still reach the start command."""
    bundle.process["noNewPrivileges"] = True
    # a program longer than the kernel's 4096-instruction limit (BPF_MAXINSNS)
    bundle.linux["seccomp"] = profile(*[rule(["mkdir"], args=[{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}])
                                        for value in range(4200)])
    cid = runtime.new_id()
    runtime.create(cid, bundle.set_args(["true"]))
    result = runtime("start", cid)
    assert result.returncode == 1 and "load seccomp filter: Invalid argument" in result.stderr
    runtime.delete(cid)


def test_default_errno_with_an_allow_list_runs_a_shell(runtime, bundle):
    allowed = ["execve", "brk", "arch_prctl", "set_tid_address", "getpid", "getppid", "getuid", "geteuid",
               "getgid", "getegid", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "write", "writev",
               "read", "close", "exit_group", "exit", "fstat", "newfstatat", "stat", "lstat", "ioctl",
               "uname", "getcwd", "mmap", "munmap", "mprotect", "prctl", "sendto", "sendmsg", "open",
               "openat", "fcntl", "dup2", "dup3", "wait4", "clone", "fork", "vfork", "access",
               "faccessat", "faccessat2", "set_robust_list", "rseq", "prlimit64", "futex", "capget",
               "capset", "setgroups", "setresuid", "setresgid", "chdir", "umask", "lseek", "getrandom",
               "pread64", "poll", "ppoll", "pselect6", "select", "sigaltstack", "kill", "tgkill", "getdents64"]
    bundle.linux["seccomp"] = profile(rule(allowed, action="SCMP_ACT_ALLOW"), default="SCMP_ACT_ERRNO",
                                      defaultErrnoRet=errno.ENOSYS)
    out = runtime.output(bundle, sh("echo shell ran; mkdir /tmp/x 2>&1; true"))
    assert "shell ran" in out and "Function not implemented" in out


def test_unknown_syscall_names_are_skipped(runtime, bundle):
    bundle.linux["seccomp"] = profile(rule(["no_such_syscall_in_any_kernel", "mkdirat", "mkdir"]))
    assert "Operation not permitted" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))


def test_log_flag_and_log_action_load(runtime, bundle):
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], action="SCMP_ACT_LOG"),
                                      flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
    assert runtime.output(bundle, sh("mkdir /tmp/x && echo made")).strip() == "made"


@pytest.mark.parametrize("edit, mentions", [
    # the schema knows the actions, operators and architectures
    (lambda s: s.update(defaultAction="SCMP_ACT_FOO"), 'linux.seccomp.defaultAction: "SCMP_ACT_FOO" is not one of'),
    (lambda s: s["syscalls"].append(rule(["mkdir"], action="SCMP_ACT_BAR")),
     'linux.seccomp.syscalls[1].action: "SCMP_ACT_BAR" is not one of'),
    (lambda s: s["syscalls"].append(rule(["mkdir"], args=[{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}])),
     'linux.seccomp.syscalls[1].args[0].op: "SCMP_CMP_XX" is not one of'),
    (lambda s: s.update(architectures=["SCMP_ARCH_VAX"]), 'linux.seccomp.architectures[0]: "SCMP_ARCH_VAX" is not one'),
    (lambda s: s["syscalls"].append(rule(["mkdir"], args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}])),
     "linux.seccomp.syscalls[1] (mkdir): argument index 6 is not 0..5"),
    (lambda s: s["syscalls"].append(rule(["mkdir"], action="SCMP_ACT_ALLOW", errnoRet=1)),
     "SCMP_ACT_ALLOW takes no errno return code"),
    (lambda s: s["syscalls"].append(rule(["mkdir"], action="SCMP_ACT_NOTIFY")), "SCMP_ACT_NOTIFY needs a listener"),
], ids=["default-action", "rule-action", "operator", "arch", "arg-index", "errno-on-allow",
        "notify-without-listener"])
def test_bad_profiles_fail_create_naming_the_rule(runtime, bundle, edit, mentions):
    seccomp = profile(rule(["getpid"], action="SCMP_ACT_LOG"))
    edit(seccomp)
    bundle.linux["seccomp"] = seccomp
    create_fails_cleanly(runtime, bundle.set_args(["true"]), mentions)


# --- SCMP_ACT_NOTIFY ------------------------------------------------------------------

# linux/seccomp.h: struct seccomp_notif (80 bytes) and seccomp_notif_resp (24 bytes)
NOTIF_RECV = 0xC0502100
NOTIF_SEND = 0xC0182101


class Listener:
    """A seccomp agent: takes an fd and state from ocirun per connection (the
    init's, then one per exec), then answers every notification with `error`."""

    def __init__(self, path, error):
        self.error = error
        self.states = []
        self.syscalls = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    @property
    def state(self):
        return self.states[0] if self.states else None

    def accept(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                data, fds, _, _ = socket.recv_fds(connection, 65536, 1)
            self.states.append(json.loads(data))
            threading.Thread(target=self.serve, args=(fds[0],), daemon=True).start()

    def serve(self, notify_fd):
        try:
            while True:
                request = bytearray(80)
                try:
                    fcntl.ioctl(notify_fd, NOTIF_RECV, request)
                except OSError:
                    return  # the filter's last user is gone
                notification_id, _pid, _flags, nr = struct.unpack_from("=QIIi", request)
                self.syscalls.append(nr)
                response = struct.pack("=QqiI", notification_id, 0, -self.error, 0)
                try:
                    fcntl.ioctl(notify_fd, NOTIF_SEND, bytearray(response))
                except OSError:
                    pass  # the caller died meanwhile
        finally:
            os.close(notify_fd)


def test_notify_reaches_the_listener_which_answers(runtime, bundle, tmp_path):
    listener = Listener(str(tmp_path / "agent.sock"), errno.ENOMEDIUM)
    bundle.config["annotations"] = {"org.example": "notify"}
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], action="SCMP_ACT_NOTIFY"),
                                      listenerPath=str(tmp_path / "agent.sock"), listenerMetadata="meta-42")
    out = runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))
    assert "No medium found" in out  # the listener's answer
    state = listener.state
    assert state["fds"] == ["seccompFd"] and state["metadata"] == "meta-42"
    assert state["state"]["annotations"] == {"org.example": "notify"}
    assert state["pid"] == state["state"]["pid"] > 0
    assert 83 in listener.syscalls or 258 in listener.syscalls  # mkdir or mkdirat on x86_64


def test_exec_hands_its_own_notify_fd_to_the_listener(runtime, bundle, tmp_path):
    listener = Listener(str(tmp_path / "agent.sock"), errno.ENOMEDIUM)
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], action="SCMP_ACT_NOTIFY"),
                                      listenerPath=str(tmp_path / "agent.sock"))
    cid = runtime.new_id()
    runtime.ok("run", "-d", "-b", bundle.set_args(["sleep", "1000"]), cid)
    out = runtime.ok("exec", cid, "sh", "-c", "mkdir /tmp/x 2>&1; true").stdout
    assert "No medium found" in out
    assert len(listener.states) == 2  # the init's at create, then the exec'd process's
    exec_state = listener.states[1]
    assert exec_state["state"]["status"] == "running" and exec_state["pid"] != runtime.state(cid)["pid"]
    runtime.delete(cid, force=True)


def test_notify_with_the_tsync_flag_loads(runtime, bundle, tmp_path):
    """The kernel refuses TSYNC together with a listener; the init has one thread."""
    Listener(str(tmp_path / "agent.sock"), errno.ENOMEDIUM)
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], action="SCMP_ACT_NOTIFY"),
                                      listenerPath=str(tmp_path / "agent.sock"),
                                      flags=["SECCOMP_FILTER_FLAG_TSYNC"])
    assert "No medium found" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))


def test_notify_with_no_listener_fails_create(runtime, bundle, tmp_path):
    bundle.linux["seccomp"] = profile(rule(["mkdir"], action="SCMP_ACT_NOTIFY"),
                                      listenerPath=str(tmp_path / "nobody.sock"))
    create_fails_cleanly(runtime, bundle.set_args(["true"]),
                         f"linux.seccomp.listenerPath {tmp_path}/nobody.sock: failed to connect with seccomp agent: "
                         "No such file or directory")


def test_compiled_program_is_cached_per_profile_and_root_only(runtime, bundle):
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], errnoRet=errno.EROFS))
    assert "Read-only file system" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))
    cache = os.path.join(runtime.root, "~seccomp-bpf")
    (entry,) = os.listdir(cache)
    assert os.stat(cache).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(cache, entry)).st_mode & 0o777 == 0o600
    # the cached program is the one loaded: a same-profile run behaves the same
    assert "Read-only file system" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))
    # a different profile is compiled anew, not served the cached program
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], errnoRet=errno.ENOSPC))
    assert "No space left on device" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))
    assert len(os.listdir(cache)) == 2


def test_a_cached_program_writable_by_others_is_not_used(runtime, bundle):
    bundle.linux["seccomp"] = profile(rule(["mkdir", "mkdirat"], errnoRet=errno.EROFS))
    runtime.output(bundle, ["true"])
    cache = os.path.join(runtime.root, "~seccomp-bpf")
    (entry,) = os.listdir(cache)
    path = os.path.join(cache, entry)
    with open(path, "r+b") as f:
        f.write(bytes(8))  # corrupt the first instruction
    os.chmod(path, 0o666)
    assert "Read-only file system" in runtime.output(bundle, sh("mkdir /tmp/x 2>&1; true"))


# --- podman's default profile ------------------------------------------------------

@pytest.fixture(scope="module")
def syscall_probe(tmp_path_factory):
    """A static program that makes one raw syscall and prints its errno."""
    return build_probe("syscall_errno", tmp_path_factory.mktemp("probe"))


def test_podmans_default_profile_loads_and_a_shell_runs_under_it(runtime, bundle, syscall_probe):
    with open(PODMAN_PROFILE) as f:
        profile = json.load(f)
    bundle.linux["seccomp"] = oci_seccomp_from_containers_profile(
        profile, bundle.process["capabilities"]["bounding"])
    shutil.copy(syscall_probe, os.path.join(bundle.rootfs, "bin", "syscall_errno"))
    # vmsplice (278): denied by name with EPERM; cachestat (451, newer than the
    # profile): the default action, ENOSYS; the kernel alone answers EFAULT
    out = runtime.output(bundle, sh("echo shell runs; ls / > /dev/null && echo ls runs; "
                                    "syscall_errno 278; syscall_errno 451 0 0 0 0"))
    assert out.splitlines() == ["shell runs", "ls runs", "errno 1 Operation not permitted",
                                "errno 38 Function not implemented"]


def test_a_syscall_newer_than_the_profile_fails_with_enosys(ocirun_and_runc, bundle, syscall_probe):
    """runc's -ENOSYS stub: under a deny-by-default profile, a syscall number
    beyond every one the profile names answers ENOSYS (programs fall back to
    an older call on it), while one it leaves out below that gets the
    default's EPERM, and named ones their rule."""
    with open(PODMAN_PROFILE) as f:
        podman = oci_seccomp_from_containers_profile(json.load(f), bundle.process["capabilities"]["bounding"])
    allowed = sorted({name for r in podman["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
                      for name in r["names"]} - {"sysinfo", "mkdir"})
    bundle.linux["seccomp"] = profile(rule(allowed, action="SCMP_ACT_ALLOW"),
                                      rule(["mkdir"], errnoRet=13), default="SCMP_ACT_ERRNO")
    shutil.copy(syscall_probe, os.path.join(bundle.rootfs, "syscall_errno"))
    # 1000: beyond every syscall; 99 (sysinfo): not named, below the last
    # named; 83: mkdir
    out = ocirun_and_runc.output(bundle, ["/syscall_errno", "1000"])
    assert out == "errno 38 Function not implemented\n"
    assert ocirun_and_runc.output(bundle, ["/syscall_errno", "99"]) == "errno 1 Operation not permitted\n"
    assert ocirun_and_runc.output(bundle, ["/syscall_errno", "83"]) == "errno 13 Permission denied\n"
