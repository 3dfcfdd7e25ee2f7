"""cffi build script (API, out-of-line mode) for ocirun's syscall shim.

setup.py names it in cffi_modules; `python cext/build_shim.py` builds the
module in place for development.
"""
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent

ffibuilder = FFI()
# The declarations are shim.h itself, minus the preprocessor lines cdef cannot read.
ffibuilder.cdef("\n".join(
    line for line in (HERE / "shim.h").read_text().splitlines()
    if not line.startswith("#")))
ffibuilder.set_source(
    "ocirun._shim",
    '#include "shim.h"',
    sources=[str((HERE / "shim.c").relative_to(HERE.parent))],
    include_dirs=[str(HERE.relative_to(HERE.parent))],
)

if __name__ == "__main__":
    import os
    os.chdir(HERE.parent)
    ffibuilder.compile(verbose=False)
