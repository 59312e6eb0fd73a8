"""Everything the toolkit raises, under one root: :class:`MangoVpbxError`.

::

    MangoVpbxError                  anything raised by mango_vpbx
    ├── VpbxError                   a failure talking to the PBX (code, meaning, http_status)
    │   ├── VpbxRequestError        3xxx: the PBX refused the request as invalid
    │   │   └── VpbxAuthError       wrong key or signature (3102, 3105)
    │   ├── VpbxNotFound            no such call, recording, number, statistics key
    │   ├── VpbxBillingError        2xxx
    │   ├── VpbxCommandFailed       4xxx
    │   ├── VpbxUnavailable         network error, timeout, 5xxx, HTTP 5xx
    │   ├── VpbxRateLimited         HTTP 429 / 4290, or refused locally
    │   │   └── VpbxBusy            another request of the account holds its turn
    │   └── VpbxLockedOut           paused to avoid (or wait out) the account's lockout
    ├── EventError (ValueError)     a webhook request that is not a valid PBX event
    ├── StatsError (ValueError)     a statistics request or answer we cannot understand
    └── ArgumentError (ValueError)  a value given by the caller the toolkit cannot use

Why a new root rather than :class:`VpbxError`: ``VpbxError`` means "the PBX did not do
it" and carries the PBX's ``code``; integrators catch it around client calls to tell the
user the PBX refused or is unreachable. Parsing a webhook or folding events never talks
to the PBX, and a handler written for PBX failures must not start catching them. The
``ValueError`` ones stay ``ValueError`` so that ``except ValueError`` written before the
root existed keeps working.
"""

from __future__ import annotations

from datetime import datetime

from .codes import code_class, describe

__all__ = [
    "MangoVpbxError",
    "VpbxError",
    "VpbxRequestError",
    "VpbxAuthError",
    "VpbxNotFound",
    "VpbxBillingError",
    "VpbxCommandFailed",
    "VpbxUnavailable",
    "VpbxRateLimited",
    "VpbxBusy",
    "VpbxLockedOut",
    "EventError",
    "StatsError",
    "ArgumentError",
    "error_for_code",
]


class MangoVpbxError(Exception):
    """The root of every exception of the toolkit."""


class EventError(MangoVpbxError, ValueError):
    """The request is not a valid PBX event; the message says what is wrong."""


class StatsError(MangoVpbxError, ValueError):
    """A statistics request or answer that cannot be understood (e.g. an unknown field)."""


class ArgumentError(MangoVpbxError, ValueError):
    """A value given by the caller that the toolkit cannot use (a bug of the caller)."""


class VpbxError(MangoVpbxError):
    """Any failure talking to the PBX.

    ``code`` is the PBX's result code when it gave one, ``meaning`` its English
    meaning, ``http_status`` the HTTP status of the answer when there was one.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code
        self.meaning = describe(code)
        self.http_status = http_status
        if message is None:
            message = f"{self.meaning} (PBX code {code})" if code is not None else "PBX error"
        super().__init__(message)


class VpbxRequestError(VpbxError):
    """The PBX refused the request as invalid (3xxx)."""


class VpbxAuthError(VpbxRequestError):
    """Wrong API key or signature (3105, 3102): check the key and salt in the settings."""


class VpbxNotFound(VpbxError):
    """The object does not exist: call, recording, number (33xx, 4101), or an expired stats key."""


class VpbxBillingError(VpbxError):
    """A billing restriction of the PBX account (2xxx)."""


class VpbxCommandFailed(VpbxError):
    """The PBX understood the command but cannot do it now (4xxx)."""


class VpbxUnavailable(VpbxError):
    """The PBX could not be reached or failed (network error, timeout, 5xxx, HTTP 5xx)."""


class VpbxRateLimited(VpbxError):
    """Too many requests (HTTP 429 / 4290, or refused locally); ``retry_after`` is in seconds."""

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0,
                 code: int | None = 4290, http_status: int | None = None) -> None:
        self.retry_after = retry_after
        if message is None:
            message = f"Too many requests to the PBX: retry in {retry_after:.0f} s"
        super().__init__(message, code=code, http_status=http_status)


class VpbxBusy(VpbxRateLimited):
    """Refused locally: another request of the account is still waiting for its answer.

    The client sends one request per account at a time (see
    :meth:`~mango_vpbx.limits.LimitStore.exclusive`); this one waited ``retry_after``
    seconds for its turn. Nothing was sent: retrying is safe.
    """

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        if message is None:
            message = ("Another request to the PBX is still waiting for its answer: "
                       f"retry in {retry_after:.0f} s")
        super().__init__(message, retry_after=retry_after, code=None)


class VpbxLockedOut(VpbxError):
    """Requests are refused until ``until`` (aware UTC datetime) to avoid or wait out a lockout.

    The PBX locks the whole account for two minutes after a second invalid (3xxx)
    request within two minutes; the client therefore refuses requests locally after
    the first one, and records the PBX's HTTP 401 lockout.
    """

    def __init__(self, until: datetime, message: str | None = None, *,
                 code: int | None = None, http_status: int | None = None) -> None:
        self.until = until
        if message is None:
            message = (
                "Requests to the PBX are paused after an invalid request, to avoid a "
                f"lockout of the account, until {until:%Y-%m-%d %H:%M:%S} UTC"
            )
        super().__init__(message, code=code, http_status=http_status)


#: Exception of each code class (:func:`~mango_vpbx.codes.code_class`) not special-cased.
_CLASS_ERRORS: dict[str, type[VpbxError]] = {
    "billing": VpbxBillingError,
    "request": VpbxRequestError,
    "cannot_do": VpbxCommandFailed,
    "server": VpbxUnavailable,
}


def error_for_code(code: int, http_status: int | None = None,
                   message: str | None = None) -> VpbxError:
    """The exception for a PBX result code that is not a success."""
    if code in (3102, 3105):
        cls: type[VpbxError] = VpbxAuthError
    elif 3300 <= code <= 3399 or code == 4101:
        cls = VpbxNotFound
    elif code == 4290:
        return VpbxRateLimited(message, http_status=http_status)
    else:
        cls = _CLASS_ERRORS.get(code_class(code) or "", VpbxError)
    return cls(message, code=code, http_status=http_status)
