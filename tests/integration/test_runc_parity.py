"""The same bundle under ocirun and under runc, the reference, gives the same view
from inside: devices, mounts, ids, capabilities, limits, environment.  Skipped
when runc is not installed."""
import shutil
import subprocess

import pytest

from helpers import sh

RUNC = shutil.which("runc")
pytestmark = pytest.mark.skipif(RUNC is None, reason="runc (the reference runtime) is not installed")


def run_under_runc(bundle, tmp_path):
    bundle.save()
    result = subprocess.run([RUNC, "--root", str(tmp_path / "runc-root"), "run", "--bundle", bundle.path,
                             "ocirun-parity-" + tmp_path.name[-20:].replace("_", "-")],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert result.returncode == 0, f"runc failed: {result.stderr}"
    return result.stdout


def as_user_1000(bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 0o027}
    bundle.process["capabilities"] = {kind: ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"] for kind in
                                      ("bounding", "effective", "permitted", "inheritable", "ambient")}


def with_extra_config(bundle):
    bundle.config["hostname"] = "parity"
    # no domainname: runc 1.1.5 predates it (runtime-spec 1.1) and ignores it
    bundle.process["cwd"] = "/home/user"
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                                 {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    bundle.process["oomScoreAdj"] = 100
    bundle.add_mount("/scratch", "tmpfs", type="tmpfs", options=["nosuid", "nodev", "size=2m", "mode=0750"])
    bundle.linux["devices"] = [{"path": "/dev/extra", "type": "c", "major": 1, "minor": 5,
                                "fileMode": 0o640, "uid": 1000, "gid": 5}]


SCRIPTS = {
    "dev": "stat -c '%n %F %t:%T %a %u:%g %N' /dev/* /dev/pts/ptmx",
    "mounts": "cut -d' ' -f5,6,9- /proc/self/mountinfo",
    "ids-and-caps": "id; umask; grep -E '^(Cap|NoNewPrivs|Groups)' /proc/self/status",
    "process": "hostname; pwd; cat /proc/self/oom_score_adj; "
               "grep -E '^Max (open files|core)' /proc/self/limits",
    "masked-and-readonly": "wc -c < /proc/timer_list; ls -A /sys/firmware; "
                           "echo 1 2>&1 > /proc/sys/net/ipv4/ip_forward; echo rc=$?",
    "network": "cat /sys/class/net/lo/flags; ls /sys/class/net",
}

CONFIGS = {"default": None, "user-1000": as_user_1000, "extra": with_extra_config}


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("script_name", list(SCRIPTS))
def test_same_view_as_runc(runtime, bundle, tmp_path, script_name, config_name):
    if CONFIGS[config_name]:
        CONFIGS[config_name](bundle)
    bundle.set_args(sh(SCRIPTS[script_name] + " 2>&1"))
    expected = run_under_runc(bundle, tmp_path)
    assert runtime.output(bundle) == expected
