"""Errors the engine raises. Each message is written for the user: it names the
thing and, where it can, says what to do. The CLI maps them to exit codes."""


class DockyardError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 125  # docker's "error in the engine itself"


class InvalidArgument(DockyardError):
    """Bad input from the user: a flag, a value, a file that is not what it should be."""


class InvalidReference(InvalidArgument):
    """An image reference that does not follow docker's grammar."""


class NotFound(DockyardError):
    """No such image, container, layer or blob."""


class AmbiguousReference(DockyardError):
    """A short id prefix matched more than one object."""


class Conflict(DockyardError):
    """The operation would break something in use (an image used by a container, a
    name already taken)."""


class DigestMismatch(DockyardError):
    """Bytes do not match the digest that names them."""


class CorruptArchive(DockyardError):
    """An archive or layer tar that cannot be read: truncated, malformed, missing parts."""


class UnsafeArchive(CorruptArchive):
    """A layer tar that tries to write, link or read outside its root."""


class StoreError(DockyardError):
    """The store on disk is in a state the engine cannot use."""


class RegistryError(DockyardError):
    """A registry could not be reached or answered with an error (engine/registry)."""


class Unauthorized(RegistryError):
    """A registry refused the credentials given, or wants some and none were given."""
