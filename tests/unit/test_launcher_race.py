"""An init that failed fast, before the parent moved it into its cgroup: the
user must read the init's own error, not the failed move's (CI saw "move
process N into cgroup ...: No such process" where the executable was missing)."""
import os

import pytest

from ocirun.errors import ChildSetupError
from ocirun.process.channel import Channel
from ocirun.process.launcher import _raise_the_childs_own_error


def exited_pid():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_the_inits_report_is_raised_when_it_is_gone():
    parent_end, child_end = Channel.pair()
    child_end.send_error("", 2, 'exec: "/no/such/program": no such file or directory')
    child_end.close()
    with pytest.raises(ChildSetupError, match="no/such/program"):
        _raise_the_childs_own_error(parent_end, exited_pid())
    parent_end.close()


def test_a_live_init_leaves_the_moves_error_standing():
    parent_end, child_end = Channel.pair()
    _raise_the_childs_own_error(parent_end, os.getpid())  # returns without reading: no deadlock
    parent_end.close()
    child_end.close()
