"""ocirun as a library: a Python program creates, starts, waits for and
deletes containers in its own process, and is left as it was: no child, no
zombie, not made a child subreaper for good."""
import os

from helpers import sh
from ocirun import Container, _sys


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if parent_of(int(entry)) == pid:
                    found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def test_run_returns_the_exit_status_and_leaves_the_caller_as_it_was(runtime, make_bundle):
    bundle = make_bundle(sh("exit 3"))
    bundle.save()
    was_subreaper = _sys.is_child_subreaper()
    children_before = children_of(os.getpid())
    pid_namespace_for_children = os.readlink("/proc/thread-self/ns/pid_for_children")
    assert Container.run(runtime.new_id(), bundle=bundle.path, root=runtime.root) == 3
    assert _sys.is_child_subreaper() == was_subreaper
    assert children_of(os.getpid()) == children_before
    # the init was forked into a pid namespace made for it: ours is back as it was
    assert os.readlink("/proc/thread-self/ns/pid_for_children") == pid_namespace_for_children


def test_create_leaves_the_init_to_the_system_unless_the_caller_takes_it(runtime, make_bundle):
    bundle = make_bundle(sh("sleep 1000"))
    bundle.save()
    detached = Container.create(runtime.new_id(), bundle=bundle.path, root=runtime.root)
    own = Container.create(runtime.new_id(), bundle=bundle.path, root=runtime.root, init_as_child=True)
    try:
        assert parent_of(detached.record.pid) != os.getpid()
        assert parent_of(own.record.pid) == os.getpid()  # forked without stage A
        own.start()
        assert own.state()["status"] == "running"
    finally:
        detached.delete(force=True)
        own.delete(force=True)
    # init_as_child: reaping it is the caller's part, as the docstring says
    _, status = os.waitpid(own.record.pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
