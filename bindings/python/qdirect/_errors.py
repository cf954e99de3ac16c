"""Exceptions raised by qdirect, one per absl status code that callers act on.

Every error is a :class:`qdirect.Error`; ``.code`` holds the absl status code
name (``"NOT_FOUND"``, ...). The C++ extension builds them with
:func:`_from_status`.
"""

from __future__ import annotations

from typing import List, Optional


class Error(Exception):
    """Base of every qdirect error. ``code`` is the absl status code name."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidArgument(Error, ValueError):
    """A bad argument (absl INVALID_ARGUMENT)."""


class SpecError(InvalidArgument):
    """The VMI manifest does not decode or validate.

    ``errors`` lists every finding as ``field.path: message`` (Kubernetes'
    field.Error format), e.g.
    ``spec.domain.devices.disks[0].bus: Unsupported value: "ide": ...``.
    """

    def __init__(self, message: str, errors: Optional[List[str]] = None,
                 code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message, code)
        self.errors: List[str] = list(errors or [])


class Timeout(Error, TimeoutError):
    """A deadline passed (absl DEADLINE_EXCEEDED). Console timeouts carry the
    recent console output in ``tail``."""

    def __init__(self, message: str, code: str = "DEADLINE_EXCEEDED",
                 tail: str = "") -> None:
        super().__init__(message, code)
        self.tail = tail


class NotFound(Error, LookupError):
    """Something named does not exist (absl NOT_FOUND)."""


class AlreadyExists(Error):
    """The name is taken, e.g. a VM of that name runs (absl ALREADY_EXISTS)."""


class PermissionDenied(Error, PermissionError):
    """absl PERMISSION_DENIED."""


class FailedPrecondition(Error):
    """Not in the right state for this (absl FAILED_PRECONDITION)."""


class Unimplemented(Error, NotImplementedError):
    """Not supported, or not yet implemented (absl UNIMPLEMENTED)."""


class Unavailable(Error, ConnectionError):
    """The peer went away, e.g. QEMU exited (absl UNAVAILABLE)."""


class QmpError(Error):
    """QEMU answered a QMP command with an error; ``error_class`` is QEMU's
    class (``"GenericError"``, ``"DeviceNotFound"``, ...)."""

    def __init__(self, message: str, code: str = "UNKNOWN",
                 error_class: str = "GenericError") -> None:
        super().__init__(message, code)
        self.error_class = error_class


_BY_CODE = {
    "INVALID_ARGUMENT": InvalidArgument,
    "DEADLINE_EXCEEDED": Timeout,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "PERMISSION_DENIED": PermissionDenied,
    "FAILED_PRECONDITION": FailedPrecondition,
    "UNIMPLEMENTED": Unimplemented,
    "UNAVAILABLE": Unavailable,
}


def _from_status(code: str, message: str, error_class: Optional[str],
                 errors: List[str]) -> Error:
    """The exception for an absl status (called by the C++ extension)."""
    if error_class is not None:
        return QmpError(message, code, error_class)
    if errors:
        return SpecError(message, errors, code)
    return _BY_CODE.get(code, Error)(message, code)
