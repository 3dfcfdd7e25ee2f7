import json
import os

import pytest

from ocirun.errors import ContainerExists, ContainerNotFound, OcirunError, WrongState
from ocirun.state import (CREATED, RUNNING, STOPPED, ContainerState, StateStore, check_allowed,
                          process_start_time, validate_id)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a b", "x\n", "caf\u00e9"])
def test_invalid_ids_are_refused(bad):
    with pytest.raises(OcirunError, match="invalid container id"):
        validate_id(bad)


@pytest.mark.parametrize("good", ["web", "a.b-c_d+1", "0123456789abcdef" * 4])
def test_valid_ids(good):
    validate_id(good)


def test_transitions():
    check_allowed("start", "c", CREATED)
    with pytest.raises(WrongState, match="cannot start container c"):
        check_allowed("start", "c", RUNNING)
    with pytest.raises(WrongState, match="cannot kill container c: container not running"):
        check_allowed("kill", "c", STOPPED)
    with pytest.raises(WrongState, match="not stopped: running"):
        check_allowed("delete", "c", RUNNING)
    check_allowed("delete", "c", CREATED)


def test_store_claims_an_id_once(tmp_path):
    store = StateStore(tmp_path / "root")
    store.create_directory("c1")
    with pytest.raises(ContainerExists, match="container c1 already exists"):
        store.create_directory("c1")
    assert store.ids() == []  # no state.json yet: not listed


def test_save_is_atomic_and_loads_back(tmp_path):
    record = ContainerState(str(tmp_path), id="c", pid=os.getpid(),
                            pid_start_time=process_start_time(os.getpid()), status=RUNNING)
    record.save()
    assert not (tmp_path / "state.json.tmp").exists()
    assert json.loads((tmp_path / "state.json").read_text())["id"] == "c"
    loaded = ContainerState.load(str(tmp_path), "c")
    assert loaded.live_status() == RUNNING


def test_recycled_pid_reads_as_stopped(tmp_path):
    record = ContainerState(str(tmp_path), id="c", pid=os.getpid(), pid_start_time=1, status=RUNNING)
    assert record.live_status() == STOPPED


def test_missing_container(tmp_path):
    with pytest.raises(ContainerNotFound, match="container nope does not exist"):
        ContainerState.load(str(tmp_path / "nope"), "nope")


def test_unwritable_root_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = StateStore(blocker / "root")
    with pytest.raises(OcirunError, match=f"state directory {blocker}/root: Not a directory"):
        store.create_directory("c")
