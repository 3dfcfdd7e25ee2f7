from setuptools import find_packages, setup

setup(
    name="ocirun",
    version="0.1.0",
    description="An OCI runtime-spec compliant, runc-compatible container runtime in Python",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["ocirun", "ocirun.*"]),
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15"],
    cffi_modules=["cext/build_shim.py:ffibuilder"],
    entry_points={"console_scripts": ["ocirun = ocirun.cli:main"]},
    zip_safe=False,
)
