"""HTTP for network media: ``httpx`` with a timeout on every wait, and retries with backoff.

:class:`Http` opens streaming responses (an error status is :class:`HttpStatus`) and reads
whole documents up to a size limit; :func:`with_retries` repeats an attempt after the
failures that retrying may cure (:data:`NETWORK_ERRORS`) as a :class:`RetryPolicy` says, and
:func:`describe` words such a failure in one short phrase. The radio streams, HLS and the
podcasts fetch through these.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from carmesh.media.items import MediaError

# The network streams log under one name, whichever of their modules speaks.
log = logging.getLogger("carmesh.media.streams")
T = TypeVar("T")

DEFAULT_BACKOFF = (1.0, 2.0, 4.0, 8.0, 8.0)
USER_AGENT = "carmesh/0.1"
#: Largest text document (playlist, station playlist) read into memory.
MAX_DOCUMENT = 4 * 1024 * 1024


@dataclass
class RetryPolicy:
    """*retries* more attempts after a failure, waiting *backoff*[i] s before the i-th (the
    last value repeats); *timeout* s for every connect and every read."""

    retries: int
    backoff: Sequence[float]
    timeout: float

    def delay(self, failure: int) -> float:
        """Seconds to wait after the *failure*-th failure in a row (1-based)."""
        if not self.backoff:
            return 0.0
        return float(self.backoff[min(failure, len(self.backoff)) - 1])

    def retries_text(self) -> str:
        return f"{self.retries} {'retry' if self.retries == 1 else 'retries'}"

    def stall_timeout(self, extra: float = 0.0) -> float:
        """How long a reader may see no progress before it gives up by itself."""
        longest = max(self.backoff, default=0.0)
        return 2 * self.timeout + longest + extra + 5.0


class HttpStatus(Exception):
    """A response with an error status."""

    def __init__(self, url: str, status: int, reason: str = "") -> None:
        super().__init__(f"HTTP {status}{f' ({reason})' if reason else ''}")
        self.url = url
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth retrying: server trouble or rate limiting, not a wrong URL."""
        return self.status >= 500 or self.status in (408, 425, 429)


class Dropped(Exception):
    """The server ended a live stream or sent less than it announced."""


#: Failures that retrying may cure.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    HttpStatus,
    Dropped,
    TimeoutError,
)


def describe(exc: BaseException, timeout: float) -> str:
    """One short phrase for a network failure, e.g. ``connection refused``."""
    if isinstance(exc, HttpStatus | Dropped):
        return str(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connecting timed out after {timeout:g} s"
    if isinstance(exc, httpx.ReadTimeout | TimeoutError):
        return f"the server sent nothing for {timeout:g} s (timed out)"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or 'connection failed'})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection"
    if isinstance(exc, httpx.TransportError):
        return f"the connection failed ({exc or type(exc).__name__})"
    return str(exc) or type(exc).__name__


def check_url(url: str, what: str = "stream") -> None:
    """InvalidArgument-free check used before fetching: MediaError unless http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MediaError(f"the {what} {url!r} is not an http(s) URL")


class Http:
    """An httpx client with carmesh's timeouts; owns (and closes) it when none was given."""

    def __init__(self, client: httpx.AsyncClient | None, timeout: float) -> None:
        self.timeout = timeout
        self.owned = client is None
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        if self.owned:
            await self.client.aclose()

    async def open(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """A streaming response with a success status (headers read within ``timeout``);
        HttpStatus for an error status. Close it with ``aclose``."""
        request = self.client.build_request(
            "GET",
            url,
            headers={"Accept-Encoding": "identity", **(headers or {})},
            timeout=httpx.Timeout(self.timeout),
        )
        async with asyncio.timeout(self.timeout):
            response = await self.client.send(request, stream=True, follow_redirects=True)
        if response.status_code >= 400:
            await response.aclose()
            raise HttpStatus(url, response.status_code, response.reason_phrase)
        return response

    async def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        limit: int = MAX_DOCUMENT,
        progress: Callable[[], None] | None = None,
    ) -> tuple[bytes, httpx.Response]:
        """The whole body (at most *limit* bytes, else MediaError) and the response; every
        read within ``timeout`` s; *progress()* after each."""
        response = await self.open(url, headers)
        try:
            return await read_body(response, limit, progress), response
        finally:
            await response.aclose()


async def read_body(
    response: httpx.Response, limit: int, progress: Callable[[], None] | None = None
) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise MediaError(f"{response.url} is too large ({int(declared)} bytes)")
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if progress is not None:
            progress()
        if len(body) > limit:
            raise MediaError(f"{response.url} is too large (over {limit} bytes)")
    if declared and declared.isdigit() and len(body) < int(declared):
        raise Dropped(f"the server sent {len(body)} of {declared} bytes")
    return bytes(body)


async def with_retries(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    on_retry: Callable[[str], None] | None = None,
    fail_fast_4xx: bool = True,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """*attempt()* until it succeeds: after a network failure wait ``backoff[i]`` and try
    again, at most ``retries`` more times; then MediaError("… *what* … failed after …: why").
    An HTTP 4xx (other than 408/425/429) fails at once when *fail_fast_4xx*; *retry_on* adds
    exception types to retry."""
    failures = 0
    while True:
        try:
            return await attempt()
        except (*NETWORK_ERRORS, *retry_on) as e:
            reason = describe(e, policy.timeout)
            if isinstance(e, HttpStatus) and not e.transient and fail_fast_4xx:
                raise MediaError(f"{what} answered {reason}") from e
            failures += 1
            if failures > policy.retries:
                tries = f"{failures} {'try' if failures == 1 else 'tries'}"
                raise MediaError(f"{what} failed after {tries}: {reason}") from e
            log.info("%s: %s; retrying in %g s", what, reason, policy.delay(failures))
            if on_retry is not None:
                on_retry(reason)
            await asyncio.sleep(policy.delay(failures))
