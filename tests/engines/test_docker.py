"""Docker 20.10 (dockerd of the tests' own, on the tests' containerd, no
bridge): `docker run --runtime ocirun --network none`, and runc the same way."""
import os

from engine_helpers import IMAGE, with_a_pty

def test_run_rm_with_output_exit_status_and_user(docker):
    assert docker(*docker.run_args(), "--rm", IMAGE, "echo", "hello from docker").stdout == "hello from docker\n"
    assert docker(*docker.run_args(), "--rm", IMAGE, "sh", "-c", "exit 6", check=False).returncode == 6
    assert docker(*docker.run_args(), "--rm", "--user", "1000:1000", IMAGE, "sh", "-c", "id -u; id -g").stdout.split() == \
        ["1000", "1000"]


def test_detached_exec_memory_stop_rm(docker):
    c = f"d-{os.urandom(3).hex()}"
    docker(*docker.run_args(), "-d", "--name", c, "--memory", "64m", IMAGE, "sleep", "1000")
    try:
        pid = int(docker("inspect", "--format", "{{.State.Pid}}", c).stdout)
        with open(f"/proc/{pid}/cgroup") as f:
            memory = [line.split(":", 2)[2].strip() for line in f if ":memory:" in line][0]
        with open(f"/sys/fs/cgroup/memory{memory}/memory.limit_in_bytes") as f:
            assert f.read().strip() == str(64 << 20)
        assert docker("exec", c, "sh", "-c", "echo exec-ok").stdout == "exec-ok\n"
        assert docker("exec", c, "sh", "-c", "exit 2", check=False).returncode == 2
        docker("stop", "-t", "1", c)
        assert docker("inspect", "--format", "{{.State.Status}}", c).stdout.strip() == "exited"
    finally:
        docker("rm", "-f", c)
    assert c not in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_run_it(docker):
    out = with_a_pty(docker.base + docker.run_args() + ["-it", "--rm", IMAGE, "sh", "-c", "tty; echo it-ok"])
    assert "/dev/pts/0" in out.stdout and "it-ok" in out.stdout, out


def test_a_runtime_error_reaches_the_user(docker):
    result = docker(*docker.run_args(), "--rm", IMAGE, "/no/such/program", check=False)
    assert result.returncode != 0
    assert '/no/such/program' in result.stderr and "no such file or directory" in result.stderr
