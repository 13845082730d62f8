"""What a check says about an answer: `Expect` records violations of named checks (with a curl repro), fails the
test at its end (`ContractViolation`), and tells an outage from a finding (`LostToOutage`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from authcanary.findings import Violation
from authcanary.http import LostInteraction
from authcanary.recording.scrub import Scrubber
from authcanary.redact import mask_secrets
from authcanary.repro import curl_command

if TYPE_CHECKING:
    from authcanary.pytest.session import CanarySession

#: the violations a test recorded so far
VIOLATIONS = pytest.StashKey[list]()
#: how many of its vendor's lost interactions (VendorStats.lost) had happened when the test started
LOST_AT_START = pytest.StashKey[int]()
#: ... and up to where `Expect.example` already handled them (an example lost to an outage is not a violation)
LOST_HANDLED = pytest.StashKey[int]()
#: where `authcanary serve --vendor V` listens by default: curl repros of the embedded target point there
SERVE_DEFAULT_URL = "http://127.0.0.1:8700"


class LostToOutage(Exception):
    """A check whose failure came from interactions lost to an outage: it did not run, it did not fail."""

    def __init__(self, lost: list[LostInteraction], why: str = "") -> None:
        self.lost = lost
        described = "; ".join(f"{i.endpoint} answered {i.reason}" for i in lost[:3]) + (
            f" (and {len(lost) - 3} more)" if len(lost) > 3 else ""
        )
        super().__init__("lost to an outage: " + "; ".join(filter(None, [described, why])))


class ContractViolation(AssertionError):
    """Raised at the end of a check that recorded failing (`breaking` or `warning`) violations through `expect`;
    `info` violations are recorded in the findings but fail nothing."""

    @classmethod
    def of(cls, violations: list[Violation]) -> ContractViolation:
        lines = "\n".join(
            f"- [{v.check_id}] {v.check}: expected {v.expected}; observed {v.observed}" for v in violations
        )
        return cls(f"{len(violations)} contract violation(s):\n{lines}")


class Expect:
    """Soft assertions that record contract violations (with a curl repro) and fail the test at its end.

    Severity policy (README): `breaking` and `warning` violations fail the check and the run; `info` ones are recorded
    in summary.json (severity info) and fail nothing."""

    def __init__(self, canary: CanarySession, vendor: str, item: pytest.Item) -> None:
        self.canary, self.vendor, self.item = canary, vendor, item
        self.last_example_lost = False
        self.base_url = canary.base_url(vendor)
        self.base_path = canary.base_path(vendor)
        self.named_bases: list[tuple[str, str]] = []
        # an in-process request has no real host: its repro points at `authcanary serve`; a live one is sent as is
        self.repro_origin = SERVE_DEFAULT_URL if canary.vendor_target(vendor).embedded else None

    def that(
        self,
        ok: bool,
        check: str,
        *,
        response: httpx.Response | None = None,
        endpoint: str = "",
        expected: str = "",
        observed: str = "",
        severity: str | None = None,
        detail: str = "",
    ) -> bool:
        """Record a violation of the declared check `check` (an id, `contracts/<vendor>/checks.yaml`) unless `ok`;
        returns `ok` so callers can stop early. `detail` says which case of the check this was (a parameter, a
        hostile request's kind); `severity` overrides the declared one where the contract sets it per value."""
        spec = self.canary.catalog(self.vendor).check(check)  # an undeclared id fails even when the check holds
        if ok:
            return True
        repro = ""
        if response is not None:
            endpoint = endpoint or self.endpoint(response.request)
            repro = curl_command(response.request, self.canary.secrets(self.vendor), self.repro_origin)
            if self.canary.vendor_target(self.vendor).embedded:
                profile = self.canary.simulator(self.vendor).profile
                repro = f"# authcanary serve --vendor {self.vendor} --profile {profile}\n{repro}"
        title = f"{spec.title} ({detail})" if detail else spec.title
        violation = Violation(
            check=self.canary.redact(self.vendor, title),
            endpoint=endpoint,
            expected=self.canary.redact(self.vendor, expected),
            observed=self.canary.redact(self.vendor, observed),
            severity=severity or spec.severity,
            repro=self.canary.redact(self.vendor, repro),
            check_id=spec.id,
        )
        self.item.stash.setdefault(VIOLATIONS, []).append(violation)
        return False

    @contextmanager
    def example(self, *, reject_lost: bool = True) -> Iterator[None]:
        """One hypothesis example: its failing violations replace the previous example's and fail the example.

        Hypothesis replays the minimal failing example last, so what remains is the minimal reproduction. `info`
        violations fail no example; they stay recorded, the first one of each check only (not one per example).
        An example that lost an interaction to an outage is rejected (`hypothesis.reject`): neither a violation nor
        a flaky failure. `reject_lost=False` (a step of a state machine, whose later draws must not change): its
        violations are forgotten and the error it raised swallowed instead, and `last_example_lost` says so."""
        informational = [violation for violation in self.item.stash.get(VIOLATIONS, []) if not violation.fails]
        self.item.stash[VIOLATIONS] = violations = list(informational)
        lost_before = self.canary.lost_count(self.vendor)
        self.last_example_lost = False
        try:
            yield
        except Exception:
            if not self._forget_if_lost(lost_before, violations, len(informational), reject_lost):
                raise
            return
        if self._forget_if_lost(lost_before, violations, len(informational), reject_lost):
            return
        seen = {violation.identity for violation in informational}
        new = violations[len(informational) :]
        violations[len(informational) :] = [
            violation for violation in new if violation.fails or violation.identity not in seen
        ]
        failing = [violation for violation in new if violation.fails]
        if failing:
            raise ContractViolation.of(failing)

    def _forget_if_lost(self, lost_before: int, violations: list[Violation], keep: int, reject: bool) -> bool:
        lost_now = self.canary.lost_count(self.vendor)
        self.item.stash[LOST_HANDLED] = lost_now  # what the test lost so far is this example's business, or none's
        if lost_now == lost_before:
            return False
        del violations[keep:]
        self.last_example_lost = True
        if reject:
            import hypothesis

            hypothesis.reject()
        return True

    @contextmanager
    def discarded(self) -> Iterator[None]:
        """Run a check whose outcome does not count (a state machine step after one lost to an outage, when the
        model of the vendor's state is no longer known): its violations are forgotten, its errors swallowed."""
        violations = self.item.stash.setdefault(VIOLATIONS, [])
        keep = len(violations)
        try:
            yield
        except Exception:
            pass
        finally:
            del violations[keep:]
            self.item.stash[LOST_HANDLED] = self.canary.lost_count(self.vendor)

    def echoed_secrets(self, response: httpx.Response) -> list[str]:
        """The variable names of the configured secrets (8+ characters: shorter ones match by chance) the response
        body quotes, in any encoding."""
        secrets = {value: name for value, name in self.canary.secrets(self.vendor).items() if len(value) >= 8}
        masked = mask_secrets(response.text, secrets)
        return sorted(name for name in set(secrets.values()) if "${" + name + "}" in masked)

    def excerpt(self, response: httpx.Response, limit: int = 200) -> str:
        """The start of the body for a violation's `observed`, secrets masked in the whole body first (a cut made
        before masking would leave half a secret that no longer looks like one): the target's as `${VAR}`, and any
        other credential or token the body quotes (an echoed request) as its placeholder."""
        masked = self.canary.redact(self.vendor, response.text)
        return Scrubber().scrub_body_text(masked, response.headers.get("content-type", ""))[:limit]

    def status(self, response: httpx.Response, expected: int | set[int], check: str, detail: str = "") -> bool:
        allowed = {expected} if isinstance(expected, int) else set(expected)
        ok = response.status_code in allowed
        return self.that(
            ok,
            check,
            response=response,
            detail=detail,
            expected=f"status {' or '.join(map(str, sorted(allowed)))}",
            observed="" if ok else f"status {response.status_code}: {self.excerpt(response, 300)}",
        )

    def json_object(self, response: httpx.Response, check: str, detail: str = "") -> dict[str, Any] | None:
        """The body as a JSON object, or None after recording a violation."""
        try:
            body = response.json()
        except ValueError:
            body = None
        ok = isinstance(body, dict)
        self.that(
            ok,
            check,
            response=response,
            detail=detail,
            expected="a JSON object body",
            observed=""
            if ok
            else f"{response.headers.get('content-type', 'no content-type')}: {self.excerpt(response)!r}",
        )
        return body if ok else None

    def name_base(self, url: str, label: str) -> None:
        """Name the endpoints under `url` as `METHOD {label}/path` (e.g. `{issuer}`: a second API of the vendor
        under its own base URL, named the same on every target)."""
        self.named_bases.append((str(url).rstrip("/"), label))

    def endpoint(self, request: httpx.Request) -> str:
        """`METHOD /path` of a request, the path relative to the target's base URL or to a named base."""
        # called for every answer a check names: the URL is cut, not parsed again (a URL's `?` and `#` are delimiters)
        url = str(request.url).partition("#")[0].partition("?")[0]
        for base, label in self.named_bases:
            if url == base or url.startswith(base + "/"):
                return f"{request.method} {label}{url[len(base) :]}"
        prefix = self.base_path
        path = request.url.path
        return f"{request.method} {path[len(prefix) :] if prefix and path.startswith(prefix) else path}"
