"""Domain errors.  Each carries a one-line, lowercase message naming the id,
field or path at fault; the CLI prints it and exits 1."""


class OcirunError(Exception):
    """Base class: anything the user did or the system refused."""


class ConfigError(OcirunError):
    """config.json is malformed, invalid, or asks for something unsupported."""


class ContainerNotFound(OcirunError):
    pass


class ContainerExists(OcirunError):
    pass


class WrongState(OcirunError):
    """The container's status does not allow the operation."""


class ChildSetupError(OcirunError):
    """A step of the container's setup failed inside the child.

    Carries the step, errno and message that travelled back over the channel.
    """

    def __init__(self, step, errno, message):
        super().__init__(f"{step}: {message}" if step else message)
        self.step = step
        self.errno = errno
