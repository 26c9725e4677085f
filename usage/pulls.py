"""Fetching a vendor's usage API page by page, patiently (scheduled pulls, usage.services.pulls).

Each request has a timeout and is tried again — after an exponential back-off with jitter — on a
connection error, a timeout, 429 (after the Retry-After it gives, capped), 5xx, or a page whose
body is cut off or is not JSON, up to `USAGE_PULL_MAX_ATTEMPTS` attempts. Other refusals (401, 403,
404, …) fail at once with the vendor's own message. Pages are followed through `has_more` /
`next_page` up to `USAGE_PULL_MAX_PAGES`; a `next_page` seen before stops the pull (a loop).

The credential goes only into request headers: never into a URL, a message or the record of
what was fetched, and any echo of it in a vendor's answer is masked.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlencode

import requests
from django.conf import settings

from .pipeline.feeds.base import loads_exact
from .pipeline.feeds.endpoints import Endpoint

# The longest wait a Retry-After header or a back-off step may impose (the task waits in place).
MAX_WAIT_SECONDS = 60.0
# The biggest page read (a vendor page is a few hundred kB; more is not a page).
MAX_PAGE_BYTES = 64 * 1024 * 1024
MASK = "••••"

# Module attributes so tests can record the waits instead of waiting.
sleep = time.sleep
jitter = random.random


class PullFailed(Exception):
    """The pull could not fetch every page; `requests` records what was tried."""

    def __init__(self, message: str, requests: list[dict] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.requests = requests or []


class _Retry(Exception):
    """One attempt failed in a way worth trying again."""

    def __init__(self, problem: str, wait: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.wait = wait


@dataclass
class Fetched:
    """What a pull fetched: the pages' texts (one line each), what was requested, bucket ends."""

    pages: list[str] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    bucket_ends: list[datetime] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return sum(r["attempts"] for r in self.requests)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_seconds: float
    timeout_seconds: float
    max_pages: int

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            max_attempts=max(1, settings.USAGE_PULL_MAX_ATTEMPTS),
            backoff_seconds=max(0.0, settings.USAGE_PULL_BACKOFF_SECONDS),
            timeout_seconds=max(0.1, settings.USAGE_PULL_TIMEOUT_SECONDS),
            max_pages=max(1, settings.USAGE_PULL_MAX_PAGES),
        )

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: base × 2^(attempt−1) × [0.5, 1.5), capped."""
        return min(MAX_WAIT_SECONDS, self.backoff_seconds * 2 ** (attempt - 1) * (0.5 + jitter()))


def mask(text: str, secret: str | None) -> str:
    """The text with the secret masked, and any run of 8 or more of its characters too (vendors
    echo a key shortened: "sk-abc…wxyz")."""
    if not secret or not text:
        return text
    text = text.replace(secret, MASK)
    if len(secret) < 16:
        return text
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and text[i : j + 1] in secret:
            j += 1
        if j - i >= 8:
            out.append(MASK)
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def check_credential(credential: str) -> str:
    """A credential fit for an HTTP header, else a refusal that does not repeat it."""
    value = credential.strip()
    if not value:
        raise PullFailed("The credential is empty.")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        raise PullFailed("The credential holds spaces, line breaks or non-ASCII characters; enter it again.")
    return value


def fetch_pages(
    endpoint: Endpoint,
    *,
    base_url: str,
    credential: str,
    start: datetime,
    end: datetime,
    policy: RetryPolicy | None = None,
    session: requests.Session | None = None,
    on_page=None,
) -> Fetched:
    """Every page of the window [start, end) from the vendor's API, or PullFailed."""
    policy = policy or RetryPolicy.from_settings()
    credential = check_credential(credential)
    url = endpoint.url(base_url)
    query = endpoint.query(start.astimezone(UTC), end.astimezone(UTC))
    headers = {"Accept": "application/json", "User-Agent": "TokenLedger usage pull", **endpoint.headers(credential)}
    fetched = Fetched()
    seen_tokens: set[str] = set()
    token: str | None = None
    own_session = session is None
    session = session or requests.Session()
    session.trust_env = False  # no proxy or netrc credentials from the worker's environment
    try:
        while True:
            if len(fetched.pages) >= policy.max_pages:
                raise PullFailed(
                    f"Stopped after {policy.max_pages} pages: {endpoint.vendor} still had more. Raise "
                    "USAGE_PULL_MAX_PAGES or pull a shorter window (a later pull_start); nothing was stored.",
                    fetched.requests,
                )
            params = query + ([("page", token)] if token else [])
            page, text = _get(session, url, params, headers, policy, credential, endpoint, fetched)
            fetched.pages.append(text)
            fetched.bucket_ends.extend(endpoint.bucket_ends(page))
            if on_page is not None:
                on_page(len(fetched.pages))
            if not endpoint.paged or not page.get("has_more"):
                return fetched
            token = page.get("next_page")
            if not isinstance(token, str) or not token:
                raise PullFailed(
                    f"Page {len(fetched.pages)} says has_more but gives no next_page; nothing was stored.",
                    fetched.requests,
                )
            if token in seen_tokens:
                raise PullFailed(
                    f"Page {len(fetched.pages)} points back to a page already fetched (next_page {token!r}): "
                    "the vendor's paging loops; nothing was stored.",
                    fetched.requests,
                )
            seen_tokens.add(token)
    finally:
        if own_session:
            session.close()


def _get(session, url, params, headers, policy: RetryPolicy, credential, endpoint, fetched) -> tuple[dict, str]:
    """One page, with its attempts recorded in `fetched.requests`."""
    shown = f"{url}?{urlencode(params)}" if params else url
    entry = {"url": shown, "attempts": 0, "status": None, "bytes": 0, "problems": []}
    fetched.requests.append(entry)
    for attempt in range(1, policy.max_attempts + 1):
        entry["attempts"] = attempt
        try:
            return _attempt(session, url, params, headers, policy, credential, endpoint, entry)
        except PullFailed as failed:
            failed.requests = fetched.requests
            raise
        except _Retry as retry:
            problem = mask(retry.problem, credential)
            entry["problems"].append(problem)
            if attempt == policy.max_attempts:
                raise PullFailed(
                    f"Gave up on {endpoint.vendor} after {attempt} attempts at {shown}: {problem}. Nothing was stored.",
                    fetched.requests,
                ) from None
            wait = retry.wait if retry.wait is not None else policy.backoff(attempt)
            sleep(max(0.0, wait))
    raise AssertionError("unreachable")


def _attempt(session, url, params, headers, policy: RetryPolicy, credential, endpoint, entry) -> tuple[dict, str]:
    timeout = (min(10.0, policy.timeout_seconds), policy.timeout_seconds)
    try:
        response = session.get(url, params=params, headers=headers, timeout=timeout, allow_redirects=False, stream=True)
        try:
            body = _read(response)
        finally:
            response.close()
    except requests.Timeout:
        raise _Retry(f"no answer within {policy.timeout_seconds:g} s") from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise _Retry(f"connection failed or was cut off ({type(exc).__name__})") from None
    except requests.RequestException as exc:  # an invalid URL, …: trying again will not help
        raise PullFailed(mask(f"The request could not be made: {exc}", credential)) from None
    status = response.status_code
    entry["status"] = status
    entry["bytes"] = len(body)
    if status == 429:
        raise _Retry("429 Too Many Requests", _retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        raise _Retry(f"{status} {_reason(status)}")
    if 300 <= status < 400:
        raise PullFailed(
            f"{endpoint.vendor} answered {status} {_reason(status)} (to {response.headers.get('Location', '?')}); "
            "credentials are not sent on to another address: set the base URL to the final address."
        )
    if status >= 400:
        raise PullFailed(_refusal(status, body, credential, endpoint))
    text = body.decode("utf-8", errors="replace").strip()
    try:
        page = loads_exact(text)
    except (json.JSONDecodeError, ValueError) as exc:
        raise _Retry(f"the page was cut off or is not JSON ({exc})") from None
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise PullFailed(
            f"{endpoint.vendor} answered with JSON that is not a page of {endpoint.format} (no data list): "
            "check the base URL."
        )
    # One page per line (the file a pull keeps): JSON has no raw line breaks inside strings, so
    # turning them into spaces keeps every value, numbers' digits included, exactly.
    return page, text.replace("\r", " ").replace("\n", " ")


def _read(response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=256 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_PAGE_BYTES:
            raise PullFailed(f"A page is larger than {MAX_PAGE_BYTES} bytes; that is not a usage page.")
    return b"".join(chunks)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date, capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(MAX_WAIT_SECONDS, max(0.0, seconds))


def _refusal(status: int, body: bytes, credential: str, endpoint: Endpoint) -> str:
    """A 4xx in words: the vendor's own message and what to check."""
    said = _vendor_message(body)
    hint = {
        401: "Check the source's credential.",
        403: "Check that the credential may read usage and costs (an admin key).",
        404: "Check the source's base URL.",
    }.get(status, "")
    message = f"{endpoint.vendor} refused the request ({status} {_reason(status)})"
    if said:
        message += f": {said}"
    message = message.rstrip(".") + "."
    return mask(f"{message} {hint}".strip(), credential)


def _vendor_message(body: bytes) -> str:
    """OpenAI {"error": {"message"}}, Anthropic {"type": "error", "error": {"message"}},
    OpenRouter {"error": {"code", "message"}}; else the start of the text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        document = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(document, dict):
        error = document.get("error")
        said = error.get("message") if isinstance(error, dict) else error
        said = said if isinstance(said, str) and said.strip() else document.get("message")
        if isinstance(said, str) and said.strip():
            return said.strip()[:300]
    return text[:300]
