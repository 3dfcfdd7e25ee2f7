"""Every test under tests/integration is marked `integration`; the fixtures live in helpers.py."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # so test modules can `import helpers`

from helpers import (bundle, host_dir, host_dir_with_submount, loop_device, make_bundle,  # noqa: E402,F401
                     ocirun_and_runc, public_dir, runtime)  # (fixtures)


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(pytest.mark.integration)
