"""process.scheduler, process.ioPriority, process.execCPUAffinity,
linux.personality, linux.memoryPolicy and linux.intelRdt, read back from
inside the container."""
import pytest

from helpers import create_fails_cleanly, leftovers, sh

# /proc/self/stat fields 19 (nice), 40 (rt_priority) and 41 (policy)
STAT_NICE_PRIORITY_POLICY = "cut -d' ' -f19,40,41 /proc/self/stat"


@pytest.mark.parametrize("scheduler, expected", [
    ({"policy": "SCHED_BATCH", "nice": 7}, "7 0 3"),
    ({"policy": "SCHED_IDLE"}, "0 0 5"),
    ({"policy": "SCHED_OTHER", "nice": -5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}, "-5 0 0"),
])
def test_scheduler_policy_and_nice(runtime, bundle, scheduler, expected):
    bundle.process["scheduler"] = scheduler
    assert runtime.output(bundle, sh(f"exec {STAT_NICE_PRIORITY_POLICY}")).strip() == expected


def test_real_time_policy_error_comes_from_the_kernel_after_the_cgroup_move(runtime, bundle):
    """Regression: the init used to set SCHED_FIFO before the parent moved it into
    the container's cpu cgroup, and the move then failed with a bare EINVAL.
    Here the new cpu cgroup has no real-time budget (cpu.rt_runtime_us 0), so
    the kernel refuses the policy itself, and the error says so."""
    bundle.process["scheduler"] = {"policy": "SCHED_FIFO", "priority": 10}
    cid = runtime.new_id()
    result = runtime.run(cid, bundle.set_args(["true"]))
    assert result.returncode == 1
    assert result.stderr.strip() == "ocirun: apply scheduling: sched_setattr SCHED_FIFO: Operation not permitted"
    assert leftovers(runtime, cid) == []


def test_real_time_policy_with_a_real_time_budget(runtime, bundle, v1_cpu_rt):
    """With linux.resources.cpu.realtimeRuntime the container's cgroup has a
    budget, and SCHED_FIFO is granted.  runc's cgroup sits right below the
    root; ocirun's parent (/ocirun) is given the budget its children need.
    (runc 1.1.5 ignores process.scheduler, so it cannot be the reference.)"""
    bundle.process["scheduler"] = {"policy": "SCHED_FIFO", "priority": 10}
    bundle.linux["resources"] = {"cpu": {"realtimeRuntime": 20000, "realtimePeriod": 1000000}}
    for _ in range(2):  # the second fits beside the first
        cid = runtime.new_id()
        runtime.run(cid, bundle.set_args(["sleep", "30"]), "-d")
        result = runtime("exec", cid, "sh", "-c", f"exec {STAT_NICE_PRIORITY_POLICY}")
        assert (result.returncode, result.stdout.strip()) == (0, "0 10 1"), result.stderr
    assert runtime.ok("update", "--cpu-rt-runtime", "30000", cid).returncode == 0
    # and given back: the host's budget is shared (runc's own suite needs it for its cgroups)
    for cid in runtime.ids:
        runtime.delete(cid, force=True)
    with open("/sys/fs/cgroup/cpu/ocirun/cpu.rt_runtime_us") as f:
        assert f.read().strip() == "0"


@pytest.fixture
def v1_cpu_rt():
    import os
    if not os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"):
        pytest.skip("no v1 cpu controller with real-time group scheduling")


@pytest.mark.parametrize("io_priority, expected", [
    ({"class": "IOPRIO_CLASS_BE", "priority": 6}, "best-effort: prio 6"),
    ({"class": "IOPRIO_CLASS_IDLE", "priority": 0}, "idle"),
    ({"class": "IOPRIO_CLASS_RT", "priority": 2}, "realtime: prio 2"),
])
def test_io_priority(runtime, bundle, io_priority, expected):
    bundle.process["ioPriority"] = io_priority
    assert runtime.output(bundle, sh("ionice -p $$")).strip() == expected


def test_personality_linux32(runtime, bundle):
    bundle.linux["personality"] = {"domain": "LINUX32"}
    assert runtime.output(bundle, ["uname", "-m"]).strip() == "i686"
    bundle.linux["personality"] = {"domain": "LINUX"}
    assert runtime.output(bundle, ["uname", "-m"]).strip() == "x86_64"


def test_exec_cpu_affinity_does_not_apply_to_the_init(runtime, bundle):
    """config.md: "This setting is not applicable to the container's init process"."""
    with open("/proc/self/status") as f:
        host_cpus = next(line.split()[1] for line in f if line.startswith("Cpus_allowed_list"))
    bundle.process["execCPUAffinity"] = {"initial": "0", "final": "0"}
    output = runtime.output(bundle, sh("grep Cpus_allowed_list /proc/self/status"))
    assert output.split()[1] == host_cpus


@pytest.mark.parametrize("edit, mentions", [
    (lambda p, l: p.update(scheduler={"policy": "SCHED_ISO"}), "SCHED_ISO is not a policy"),
    (lambda p, l: p.update(scheduler={"policy": "SCHED_OTHER", "nice": 30}), "nice: 30 is outside -20..19"),
    (lambda p, l: p.update(scheduler={"policy": "SCHED_FIFO"}), "SCHED_FIFO needs 1..99"),
    (lambda p, l: p.update(scheduler={"policy": "SCHED_BATCH", "priority": 3}), "only SCHED_FIFO and SCHED_RR"),
    (lambda p, l: p.update(ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 8}), "priority: 8 is outside 0..7"),
    (lambda p, l: p.update(execCPUAffinity={"final": "3-1"}), "execCPUAffinity.final: range '3-1'"),
    (lambda p, l: l.update(personality={"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
     "linux.personality.flags"),
], ids=["iso", "nice", "rt-priority", "priority-without-rt", "ioprio", "cpus", "personality-flags"])
def test_bad_values_fail_create_naming_the_field(runtime, bundle, edit, mentions):
    edit(bundle.process, bundle.linux)
    create_fails_cleanly(runtime, bundle, mentions)


@pytest.mark.parametrize("policy, shown", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "interleave=static:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
])
def test_memory_policy(runtime, bundle, policy, shown):
    """numa_maps shows the policy each mapping of the exec'd program gets."""
    bundle.linux["memoryPolicy"] = policy
    first_mapping = runtime.output(bundle, ["head", "-1", "/proc/self/numa_maps"]).split()
    assert first_mapping[1] == shown


@pytest.mark.parametrize("policy, mentions", [
    ({"mode": "MPOL_BIND"}, "MPOL_BIND needs at least one node"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "MPOL_LOCAL takes no nodes"),
    ({"mode": "MPOL_BIND", "nodes": "1-0"}, "linux.memoryPolicy.nodes: range '1-0'"),
], ids=["bind-without-nodes", "local-with-nodes", "backwards"])
def test_bad_memory_policy_fails_create(runtime, bundle, policy, mentions):
    bundle.linux["memoryPolicy"] = policy
    create_fails_cleanly(runtime, bundle, mentions)


def test_memory_policy_on_a_node_the_host_lacks_is_the_kernels_error(runtime, bundle):
    bundle.linux["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "63"}
    result = runtime.run(runtime.new_id(), bundle.set_args(["true"]))
    assert result.returncode == 1
    assert "set_mempolicy MPOL_BIND: Invalid argument" in result.stderr


def test_intel_rdt_without_resctrl_is_an_error(runtime, bundle):
    """config-linux.md: no resctrl mounted in the runtime's mount namespace -> error."""
    from ocirun.linux import intelrdt
    if intelrdt.resctrl_mounted():
        pytest.skip("this host has resctrl mounted")
    bundle.linux["intelRdt"] = {"closID": "guaranteed_group", "l3CacheSchema": "L3:0=7f"}
    cid = runtime.new_id()
    result = runtime("create", "-b", bundle, cid)
    assert result.returncode == 1
    assert result.stderr.strip() == "ocirun: config.json: linux.intelRdt: no resctrl filesystem is mounted on this host"
    assert leftovers(runtime, cid) == []
