import signal

import pytest

from ocirun.cli import parse_signal
from ocirun.errors import OcirunError


@pytest.mark.parametrize("text", ["SIGKILL", "KILL", "kill", "9"])
def test_signal_forms(text):
    assert parse_signal(text) == signal.SIGKILL


@pytest.mark.parametrize("text", ["SIGNOPE", "0", "999", "", "1x"])
def test_bad_signals(text):
    with pytest.raises(OcirunError, match="invalid signal"):
        parse_signal(text)
