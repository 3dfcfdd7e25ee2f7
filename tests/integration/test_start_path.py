"""What the verbs an engine calls one by one import: every module is paid
for on every container start, so start and delete import neither the
config reader and validator nor the child-side setup, and start no cgroup
driver (they act on the state create saved)."""
import subprocess

from helpers import runtime_interpreter, sh

NOT_FOR_START = ("ocirun.config", "ocirun._config_validator", "ocirun.process.init", "ocirun.cgroups")
NOT_FOR_DELETE = ("ocirun.config", "ocirun._config_validator", "ocirun.process.init")


def imported_by(rt, *args):
    """The modules `ocirun ARGS` imports, by -X importtime, run as the command runs (-IS)."""
    result = subprocess.run([runtime_interpreter(rt), "-IS", "-X", "importtime", *rt.argv(*args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


def test_start_and_delete_import_only_what_they_use(runtime, bundle):
    bundle.set_args(sh("sleep 1000"))
    container_id = runtime.new_id()
    runtime.ok("create", "--bundle", bundle, container_id)
    started = imported_by(runtime, "start", container_id)
    assert "ocirun.container" in started  # the measurement sees ocirun's own modules
    assert not started & set(NOT_FOR_START), sorted(started & set(NOT_FOR_START))
    deleted = imported_by(runtime, "delete", "--force", container_id)
    assert "ocirun.cgroups" in deleted
    assert not deleted & set(NOT_FOR_DELETE), sorted(deleted & set(NOT_FOR_DELETE))
