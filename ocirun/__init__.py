"""ocirun: an OCI runtime-spec compliant, runc-compatible container runtime.

Use it as a library:

    from ocirun import Container
    Container.create("web", bundle="/path/to/bundle", root="/run/ocirun")
"""
from ocirun.version import OCI_VERSION, __version__  # noqa: F401


def __getattr__(name):
    # Lazy, so `import ocirun` stays cheap for the CLI's fast paths.
    if name == "Container":
        from ocirun.container import Container
        return Container
    raise AttributeError(name)
