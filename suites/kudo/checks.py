"""What a documented Kudo token service answer is: each rule a named check declared in contracts/kudo/checks.yaml (id,
title, source, severity, and the simulator deviation profiles that prove it fires)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from authcanary.suite import Contract, Expect, Secret, Timed, check_schema, is_placeholder, refused

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class Issued:
    """A token as generate gave it: the parameters it stands for, its expiration_time (None when that could not be
    read as a sane absolute time in seconds: nothing can then be said about when it dies) and when it was asked for."""

    token: str
    parameters: Any
    expiration_time: int | None
    timing: Timed


@dataclass(frozen=True)
class Difference:
    """Where verify's answer differs from what was sent; `rounded`: an integer beyond double precision that came
    back as the nearest double (RFC 8259 §6), not a changed value."""

    path: str
    sent: str
    answered: str
    rounded: bool = False

    def __str__(self) -> str:
        return f"{self.path}: sent {self.sent}, answered {self.answered}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, _Absent) else "(absent)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Absent:
    pass


ABSENT = _Absent()


def differences(sent: Any, answered: Any, exact_limit: int, path: str = "$") -> list[Difference]:
    """Every place where `answered` is not exactly the JSON value `sent`: the same JSON types (a number is a number,
    1 and 1.0 alike, a string is a string), the same values (strings code point for code point, numbers exactly),
    the same members and items."""
    if isinstance(sent, dict):
        if not isinstance(answered, dict):
            return [Difference(path, _show(sent), _show(answered))]
        found: list[Difference] = []
        for key, value in sent.items():
            found += differences(value, answered.get(key, ABSENT), exact_limit, _member(path, key))
        found += [
            Difference(_member(path, key), "(absent)", _show(answered[key])) for key in answered if key not in sent
        ]
        return found
    if isinstance(sent, list):
        if not isinstance(answered, list):
            return [Difference(path, _show(sent), _show(answered))]
        found = [
            difference
            for index, (item, got) in enumerate(zip(sent, answered, strict=False))
            for difference in differences(item, got, exact_limit, f"{path}[{index}]")
        ]
        if len(sent) != len(answered):
            found.append(Difference(path, f"{len(sent)} items", f"{len(answered)} items"))
        return found
    if _is_number(sent):
        if _is_number(answered) and answered == sent:  # int and float compare exactly
            return []
        rounded = (
            isinstance(sent, int)
            and abs(sent) > exact_limit
            and _is_number(answered)
            and _as_double(answered) == float(sent)
        )
        return [Difference(path, _show(sent), _show(answered), rounded)]
    if type(answered) is type(sent) and answered == sent:  # strings, booleans, null
        return []
    return [Difference(path, _show(sent), _show(answered))]


def _member(path: str, key: str) -> str:
    """`$.viewer.zoom`, or `$["a key"]` for a name that is not an identifier."""
    return f"{path}.{key}" if NAME.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _as_double(number: int | float) -> float | None:
    try:
        return float(number)
    except OverflowError:
        return None


def http_date(value: str) -> float | None:
    """An HTTP-date (RFC 9110 §5.6.7) as epoch seconds, or None."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def iso(epoch: float) -> str:
    """Epoch seconds as an ISO 8601 UTC time (or `out of range`)."""
    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return "out of range"


class KudoChecks:
    """Judges answers already received, through `expect` (violations carry the check id, the endpoint and a curl
    reproduction; the partner key appears there only as `${KUDO_API_KEY}`)."""

    def __init__(self, expect: Expect, contract: Contract, key: Secret | str) -> None:
        self.expect, self.contract, self.key = expect, contract, key
        tokens = contract.semantics["tokens"]
        self.skew: float = tokens["clock_skew_seconds"]
        self.margin: float = tokens["expiry_margin_seconds"]
        self.milliseconds_from: int = tokens["milliseconds_from"]
        errors = contract.semantics["errors"]
        self.error_status: int = errors["status"]
        self.bad_body_statuses = frozenset(errors["bad_body_statuses"])
        self.exact_limit: int = contract.semantics["numbers"]["exact_integer_limit"]

    # -- generate -------------------------------------------------------------------------------------------------
    def issued(self, timed: Timed, parameters: Any, case: str = "", *, judge_date: bool = True) -> Issued | None:
        """A 200 generate answer for `parameters` (`case`: which kind of parameters): the documented body, a uuid
        token, and an expiration_time in absolute epoch seconds, in the future, on the server's clock.
        `judge_date=False` after virtual clock jumps (a server in front of the simulator may add a Date of its own
        from the real clock)."""
        response, expect = timed.response, self.expect
        self.not_disclosed(response)
        if not expect.status(response, 200, "kudo.generate.parameters_accepted", detail=case):
            return None
        body = expect.json_object(response, "kudo.schema.token", detail="status 200")
        if body is None or not check_schema(expect, response, body, self.contract, "Token"):
            return None
        token, expiration = body["token"], body["expiration_time"]
        replayed = is_placeholder(token)
        self.token_format(response, token, replayed)
        sane = self.expiration(response, timed, expiration, replayed, judge_date)
        return Issued(token, parameters, expiration if sane else None, timed)

    def token_format(self, response: httpx.Response, token: str, replayed: bool) -> None:
        """The token is a uuid (of any version); a replayed recording holds its shape only."""
        ok = " uuid" in token if replayed else bool(UUID.match(token))
        self.expect.that(
            ok,
            "kudo.generate.token_uuid",
            response=response,
            expected="a uuid (8-4-4-4-12 hex digits)",
            # never the token itself: a report must not hold a live one
            observed=f"recorded as {token}" if replayed else f"{len(token)} characters, starting {token[:4]!r}",
        )

    def expiration(
        self, response: httpx.Response, timed: Timed, expiration: int, replayed: bool, judge_date: bool
    ) -> bool:
        """expiration_time is absolute epoch seconds: below the milliseconds range, later than the request (on the
        harness's clock, within the skew tolerance) and on the server's clock (its Date within the skew tolerance of
        ours, and earlier than expiration_time). Returns whether it is sane enough to tell when the token dies."""
        expect = self.expect
        if not expect.that(
            expiration < self.milliseconds_from,
            "kudo.generate.expiration_seconds",
            response=response,
            expected=f"epoch seconds (below {self.milliseconds_from})",
            observed=f"expiration_time {expiration} (as milliseconds: {iso(expiration / 1000)})",
        ):
            return False
        dates = [http_date(value) for value in response.headers.get_list("date")]
        readable = [date for date in dates if date is not None]
        if replayed:  # recorded answers: judged against their own Date, not against today
            now_low = min(readable) if readable and len(readable) == len(dates) else None
        else:
            now_low = timed.sent - self.skew
        future = now_low is None or expect.that(
            expiration > now_low,
            "kudo.generate.expiration_future",
            response=response,
            expected=f"after {iso(now_low)} (the request{'' if replayed else f', -{self.skew:.0f} s'})",
            observed=f"expiration_time {expiration} ({iso(expiration)})",
        )
        if not judge_date:
            return future
        problems = []
        if not dates:
            problems.append("no Date header")
        elif len(readable) < len(dates):
            problems.append(f"Date {response.headers.get_list('date')!r} is not an HTTP-date")
        for date in readable:
            if not replayed and not timed.sent - self.skew - 1 <= date <= timed.received + self.skew:
                off = date - timed.received
                problems.append(f"Date {iso(date)} is {off:+.0f} s off the harness's clock ({iso(timed.received)})")
            if expiration <= date:
                problems.append(f"expiration_time {iso(expiration)} is not after the Date {iso(date)}")
        consistent = expect.that(
            not problems,
            "kudo.generate.expiration_consistent_with_date",
            response=response,
            expected=f"a Date within {self.skew:.0f} s of the harness's clock, earlier than expiration_time",
            observed="; ".join(problems),
        )
        return future and consistent

    def fresh(self, response: httpx.Response, token: str, earlier: Collection[str], case: str = "") -> None:
        """A token no earlier generate call of this test gave."""
        self.expect.that(
            token not in earlier,
            "kudo.generate.fresh_token",
            response=response,
            detail=case,
            expected="a token not issued before",
            observed="the token of an earlier call, again",
        )

    # -- verify ---------------------------------------------------------------------------------------------------
    def verified(
        self,
        response: httpx.Response,
        issued: Issued,
        case: str = "",
        *,
        others: Collection[Issued] = (),
        check: str = "kudo.verify.valid_token_200",
    ) -> Any:
        """A 200 verify answer for a live token (`check`: the status rule, `case`: which token): exactly the
        parameters it was generated with, not another token's (`others`), and never the partner key."""
        expect, response = self.expect, response
        self.not_disclosed(response)
        if not expect.status(response, 200, check, detail=case):
            return None
        try:
            body = response.json()
        except ValueError:
            expect.that(
                False,
                "kudo.verify.same_parameters",
                response=response,
                detail=case,
                expected="the parameters as a JSON object",
                observed=f"{response.headers.get('content-type')}: {expect.excerpt(response)!r}",
            )
            return None
        found = differences(issued.parameters, body, self.exact_limit)
        altered = [difference for difference in found if not difference.rounded]
        expect.that(
            not altered,
            "kudo.verify.same_parameters",
            response=response,
            detail=case,
            expected="exactly the parameters sent to generate",
            observed="; ".join(map(str, altered[:3])) + (f" (and {len(altered) - 3} more)" if len(altered) > 3 else ""),
        )
        rounded = [difference for difference in found if difference.rounded]
        expect.that(
            not rounded,
            "kudo.verify.large_numbers_kept",
            response=response,
            detail=case,
            expected="integers beyond 2^53 exactly as sent",
            observed="; ".join(map(str, rounded[:3])),
        )
        if found:
            theirs = [other for other in others if not differences(other.parameters, body, self.exact_limit)]
            expect.that(
                not theirs,
                "kudo.verify.own_parameters",
                response=response,
                detail=case,
                expected="the parameters this token was generated with",
                observed=f"the parameters of another token ({len(theirs)} of {len(others)} others match)",
            )
        return body

    # -- errors ---------------------------------------------------------------------------------------------------
    def forbidden(self, response: httpx.Response, check: str, case: str = "") -> bool:
        """A documented error: 403 (`check`, a declared id; `case`: which error) with a descriptive message, JSON or
        plain text (semantics.yaml ambiguities), that does not quote the partner key."""
        response = response
        self.not_disclosed(response)
        if not self.expect.status(response, self.error_status, check, detail=case):
            return False
        self.message(response, case)
        return True

    def message(self, response: httpx.Response, case: str = "") -> None:
        """The error answer says something: a non-empty text, or JSON holding a non-empty string."""
        response = response
        text = response.text.strip()
        try:
            parsed = json.loads(text)
        except ValueError:
            descriptive = text not in ("", "{}", "[]", '""')
        else:
            descriptive = _has_text(parsed)
        self.expect.that(
            descriptive,
            "kudo.errors.message",
            response=response,
            detail=case,
            expected="a descriptive error message (JSON or plain text)",
            observed=f"{response.headers.get('content-type', 'no content-type')}: {text[:60]!r}",
        )

    def not_disclosed(self, response: httpx.Response) -> None:
        """The answer does not quote the partner key (in any encoding)."""
        echoed = self.expect.echoed_secrets(response)
        self.expect.that(
            not echoed,
            "kudo.secrets.key_not_disclosed",
            response=response,
            expected="no partner key in the answer",
            observed=f"the answer quotes {', '.join(echoed)}",
        )

    def hostile(self, response: httpx.Response, allowed: Collection[int], kind: str) -> None:
        """A hostile request is refused with a status the documentation allows for it, quoting no key."""
        response = response
        self.not_disclosed(response)
        refused(self.expect, response, allowed, "kudo.hostile.rejected", detail=kind)


def _has_text(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict):
        return any(_has_text(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_text(item) for item in value)
    return False
