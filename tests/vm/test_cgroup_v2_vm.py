"""Boots a real cgroup v2 kernel (Debian's linux-image-amd64 under qemu, with
virtme-ng sharing this filesystem) and runs test_cgroup_v2.py,
test_device_rules.py, test_cgroup_any_version.py, test_cgroup_systemd.py,
test_pause_ps.py, test_cgroups_path.py and test_rootless.py of tests/integration inside it
with the installed ocirun.  bootstrap.sh installs all of it; where something
is missing the test is skipped, saying what."""
import glob
import os
import re
import shutil
import signal
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = " ".join(os.path.join(os.path.dirname(HERE), "integration", name)
                 for name in ("test_cgroup_v2.py", "test_device_rules.py", "test_cgroup_any_version.py",
                              "test_cgroup_systemd.py", "test_pause_ps.py", "test_cgroups_path.py",
                              "test_rootless.py"))
VNG = os.environ.get("OCIRUN_VNG", "/opt/vng/bin/vng")


def guest_kernel():
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    return kernels[-1] if kernels else None


@pytest.mark.skipif(not os.path.exists(VNG) or not guest_kernel() or not shutil.which("qemu-system-x86_64"),
                    reason="needs virtme-ng (/opt/vng), qemu-system-x86 and linux-image-amd64")
def test_cgroup_v2_suite_passes_in_a_v2_vm():
    pytest_bin = os.path.join(os.path.dirname(os.path.realpath(os.environ.get("OCIRUN", "/opt/ocirun/bin/ocirun"))),
                              "pytest")
    # loop devices for the io tests, and a soft-RoCE device on a dummy link for
    # the rdma controller (test_rdma_limits skips without it)
    vm_setup = ("modprobe loop; modprobe rdma_rxe && ip link add ocirun-rdma0 type dummy && ip link set ocirun-rdma0 up"
                   " && rdma link add rxe0 type rxe netdev ocirun-rdma0; ")
    command = vm_setup + (f"PYTHONDONTWRITEBYTECODE=1 OCIRUN={os.environ.get('OCIRUN', '/opt/ocirun/bin/ocirun')} "
               f"{pytest_bin} -q -p no:cacheprovider -rs {TESTS}")
    env = dict(os.environ, PATH=f"{os.path.dirname(VNG)}:{os.environ.get('PATH', '')}")
    # A session of its own: on a timeout the whole group goes, qemu included
    # (killing vng alone once left a qemu spinning on both cores).
    vm = subprocess.Popen([VNG, "--disable-kvm", "--run", guest_kernel(), "--memory", "2G", "--cpus", "2",
                           "--cwd", os.path.dirname(os.path.dirname(HERE)), "--exec", command],
                          env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True)
    try:
        output, _ = vm.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(vm.pid, signal.SIGKILL)
        output, _ = vm.communicate()
        pytest.fail("the cgroup v2 VM did not finish within 600 s:\n" + output[-4000:])
    result = subprocess.CompletedProcess(vm.args, vm.returncode, output, "")
    print(output[-3000:])
    assert result.returncode == 0, output[-4000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 37, output[-4000:]
    # only these may skip there: the v1-specific tests, and the rootless tests
    # that need a user made with useradd, which the VM's overlaid /etc
    # refuses (the host runs them)
    allowed = ("no v1 devices controller", "cgroup v1 hosts only", "useradd: ")
    unexpected = [line for line in output.splitlines()
                  if line.startswith("SKIPPED") and not any(reason in line for reason in allowed)]
    assert not unexpected, "v2 tests were skipped inside the VM:\n" + "\n".join(unexpected)
