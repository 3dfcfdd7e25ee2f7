import importlib.util
import os
import pathlib
import shutil
import subprocess

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
VALIDATOR = "ocirun/_config_validator.py"
EXEC_HELPER = "ocirun/ocirun-exec"


def build_exec_helper(target):
    """cext/exec_helper.c as a static program (see ocirun/process/sealed_exec.py).
    musl keeps it at ~13 KiB, which ocirun copies on every container start;
    glibc's static libc makes it ~700 KiB, slower to copy and to exec."""
    compiler = ["musl-gcc"] if shutil.which("musl-gcc") else [os.environ.get("CC", "cc")]
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(compiler + ["-static", "-Os", "-s", "-Wall", "-o", str(target),
                               str(HERE / "cext" / "exec_helper.c")], check=True)


class build_py_with_validator(build_py):
    """build_py that also writes ocirun/_config_validator.py, generated from spec/ by
    cext/schema_codegen.py, and builds ocirun/ocirun-exec: into the build directory for a
    wheel, into the source tree for an editable install (as setuptools' build sub-command
    protocol asks)."""

    def run(self):
        super().run()
        editable = getattr(self, "editable_mode", False)  # setuptools < 64 has none
        target = HERE / VALIDATOR if editable else pathlib.Path(self.build_lib, VALIDATOR)
        # Loaded by path: the generator needs only the standard library, not the package.
        spec = importlib.util.spec_from_file_location(
            "ocirun_schema_codegen", HERE / "cext" / "schema_codegen.py")
        codegen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(codegen)
        codegen.write(target, HERE / "spec", byte_compile=editable)
        build_exec_helper(HERE / EXEC_HELPER if editable else pathlib.Path(self.build_lib, EXEC_HELPER))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        generated = [os.path.join(self.build_lib, path) for path in (VALIDATOR, EXEC_HELPER)]
        return outputs + [path for path in generated if path not in outputs]

    def get_output_mapping(self):
        mapping = super().get_output_mapping()
        for path in (VALIDATOR, EXEC_HELPER):
            mapping[os.path.join(self.build_lib, path)] = str(HERE / path)
        return mapping

    def get_source_files(self):
        # So that an sdist carries the schemas the generator reads.
        return super().get_source_files() + [
            str(path.relative_to(HERE)) for path in sorted((HERE / "spec").iterdir())]


setup(
    name="ocirun",
    version="0.1.0",
    description="An OCI runtime-spec compliant, runc-compatible container runtime in Python",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["ocirun", "ocirun.*"]),
    setup_requires=["cffi>=1.15"],
    # pyroute2 is imported only for linux.netDevices: never on a plain start
    install_requires=["cffi>=1.15", "pyroute2>=0.7", "jeepney>=0.8"],
    cffi_modules=["cext/build_shim.py:ffibuilder", "cext/build_libseccomp.py:ffibuilder"],
    scripts=["bin/ocirun"],
    zip_safe=False,
    cmdclass={"build_py": build_py_with_validator},
)
