"""hygiene.forbid_imports_from_files: once a process's root is the
container's, no module is read from a file (the image's own would run in
ocirun's process); built-in ones still import."""
import subprocess
import sys

CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from ocirun.process.hygiene import forbid_imports_from_files
forbid_imports_from_files()
import _signal  # built into the interpreter: still fine
try:
    import planted
except ModuleNotFoundError:
    print("refused")
else:
    print("imported")
"""


def test_a_planted_module_is_never_imported(tmp_path):
    (tmp_path / "planted.py").write_text("print('the image ran code in the runtime')\n")
    result = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, cwd="/")
    assert result.stdout == "refused\n", result.stdout + result.stderr
