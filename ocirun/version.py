"""This ocirun's version, and the runtime-spec version it implements."""
__version__ = "0.1.0"
OCI_VERSION = "1.3.0"
