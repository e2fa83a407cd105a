"""The one error vocabulary of carmesh.

Core code (catalog, broker, services) raises these; each wire adapter maps them to its own
form (gRPC status, HTTP status, VISS error) in one place. Messages are one clear sentence
that says what went wrong and, where useful, what to do.
"""

from __future__ import annotations


class CarmeshError(Exception):
    """Base of every error carmesh raises on purpose."""

    #: A short, stable, machine-readable name for the kind of error.
    code = "internal"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message


class NotFound(CarmeshError):
    """A signal, branch or other named thing does not exist."""

    code = "not_found"


class InvalidArgument(CarmeshError):
    """A request is malformed: a bad pattern, a target for a sensor, an empty request."""

    code = "invalid_argument"


class InvalidValue(InvalidArgument):
    """A value does not fit its signal: wrong datatype, out of range, not an allowed value."""

    code = "invalid_value"

    def __init__(self, message: str, *, path: str | None = None, expected: str = "", got: str = ""):
        super().__init__(message, path=path)
        self.expected = expected
        self.got = got


class PermissionDenied(CarmeshError):
    """The caller is known but its scopes do not allow the operation."""

    code = "permission_denied"


class Unauthenticated(CarmeshError):
    """The caller could not be identified: missing, malformed, expired or forged credentials."""

    code = "unauthenticated"


class Unavailable(CarmeshError):
    """The operation cannot be carried out now: e.g. no provider serves the actuator."""

    code = "unavailable"


class AlreadyClaimed(CarmeshError):
    """A provider tried to claim a signal that another provider already claimed."""

    code = "already_exists"


class CatalogError(CarmeshError):
    """A VSS catalog or overlay file cannot be used; the message names the file and node."""

    code = "catalog"

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None):
        super().__init__(message, path=path)
        self.file = file


class ConfigError(CarmeshError):
    """Settings are invalid (bad TOML, bad environment variable, bad option)."""

    code = "config"


class PackageRejected(InvalidArgument):
    """An app package cannot be installed: malformed, unsigned, tampered, untrusted,
    downgraded or from the wrong publisher. The message names the cause."""

    code = "package_rejected"


class AlreadyExists(CarmeshError):
    """Something with that name exists already (an installed app, a trusted key)."""

    code = "already_exists"


class FailedPrecondition(CarmeshError):
    """The request is well-formed but the state does not allow it now (e.g. rolling back an
    app that has no previous version, starting an app whose permissions are undecided)."""

    code = "failed_precondition"
