"""Domain errors: what the business rules say no with.

The message extractor knows every class defined here; an error class kept
beside its service (one that carries a domain payload) marks its fixed
message with ``N_()``.
Each carries a stable ``code`` for the API, an HTTP status, and a message
that is a translatable msgid with ``{placeholders}``; the web layer turns
them into a JSON error body for the API or a friendly page for browsers.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a user can cause; never a 500."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message  # msgid, translated when rendered
        self.params = params

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self), **self.params}


class ValidationFailed(DomainError):
    status_code = 422
    code = "validation_failed"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Unauthenticated(DomainError):
    """Who is asking is unknown or not proven (no session, bad credentials)."""

    status_code = 401
    code = "unauthenticated"


class TooManyAttempts(DomainError):
    """Too many failures in a short time; the message says when to try again."""

    status_code = 429
    code = "too_many_attempts"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class TwoFactorRequired(PermissionDenied):
    """The workspace requires two-factor sign-in and this member has not turned it on."""

    code = "two_factor_required"


class TenantSuspended(PermissionDenied):
    """The operator suspended the workspace: its members reach nothing until reactivated;
    ``reason`` is there when the operator chose to show it to them."""

    code = "tenant_suspended"


class TenantDeleted(PermissionDenied):
    """The owner deleted the workspace: its members reach nothing; ``restorable_until``
    (an ISO date) is the last day support can restore it before it is purged."""

    code = "tenant_deleted"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class ModuleDisabled(PermissionDenied):
    """A disabled module's route was asked for; ``module`` names it."""

    code = "module_disabled"


class ModuleReadOnly(PermissionDenied):
    """A write to a read-only (unpaid) module's route; ``module`` names it. Its reads go on."""

    code = "module_read_only"


class TenantMismatchError(PermissionDenied):
    """A write would cross the tenant wall (caught by the ORM before RLS sees it)."""

    code = "tenant_mismatch"
