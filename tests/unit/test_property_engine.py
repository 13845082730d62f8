"""The lean property engine (issue 13): the in-process wire, the suites' client, schemathesis' checks run once per
answer, and strategies built once per set of arguments. Each keeps what it replaced did."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis import Response
from schemathesis.core.failures import Failure, FailureGroup

from authcanary.checks.conformance import check_conformance
from authcanary.credentials import Secret
from authcanary.http import InProcessTransport, bind_client
from strategies import autodesk, axeobim, bimplus, bimplus_oidc, kudo


def serve(app: Any) -> httpx.Client:
    return bind_client(InProcessTransport(app), "http://vendor.sim/api")


def echo_app(seen: list[dict[str, Any]]) -> Any:
    """An ASGI app that answers what it was sent (status 201, the body back, the scope noted in `seen`)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        seen.append({**scope, "body": message["body"], "more_body": message["more_body"]})
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-echo", b"1")]})
        await send({"type": "http.response.body", "body": message["body"] or b"empty", "more_body": True})
        await send({"type": "http.response.body", "body": b"!"})

    return app


def test_the_in_process_wire_hands_the_app_the_request_as_a_server_would() -> None:
    seen: list[dict[str, Any]] = []
    with serve(echo_app(seen)) as client:
        response = client.post("a%20b/c", params={"q": "1 2"}, headers={"X-Thing": "Yes"}, content=b"payload")
    assert (response.status_code, response.headers["x-echo"], response.content) == (201, "1", b"payload!")
    [scope] = seen
    assert scope["method"] == "POST"
    assert scope["path"] == "/api/a b/c" and scope["raw_path"] == b"/api/a%20b/c"
    assert scope["query_string"] == b"q=1+2"
    assert (b"x-thing", b"Yes") in scope["headers"] and (b"content-length", b"7") in scope["headers"]
    assert scope["client"] == ("testclient", 50000) and scope["server"] == ("vendor.sim", None)
    assert (scope["body"], scope["more_body"]) == (b"payload", False)
    assert response.elapsed.total_seconds() >= 0  # read and closed like an answer from a real wire


def test_a_head_answer_has_no_body() -> None:
    with serve(echo_app([])) as client:
        assert client.head("x").content == b""


def test_an_app_that_fails_before_answering_is_a_500_and_after_answering_keeps_its_answer() -> None:
    async def fails_first(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def fails_after(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"Internal Server Error"})
        raise RuntimeError("boom")

    with serve(fails_first) as client:
        assert (client.get("x").status_code, client.get("x").content) == (500, b"")
    with serve(fails_after) as client:
        assert (client.get("x").status_code, client.get("x").text) == (500, "Internal Server Error")


def test_an_app_waiting_for_the_client_to_go_away_hears_it_once_it_has_answered() -> None:
    events: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        listener = asyncio.ensure_future(receive())  # as a streaming answer listens for a disconnect
        await asyncio.sleep(0)
        assert not listener.done()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        events.append((await listener)["type"])

    with serve(app) as client:
        assert client.get("x").text == "ok"
    assert events == ["http.disconnect"]


def test_the_wire_is_shared_by_the_clients_of_a_session_until_shut_down() -> None:
    transport = InProcessTransport(echo_app([]))
    for _ in range(2):
        with bind_client(transport, "http://vendor.sim") as client:  # closing a client keeps the wire usable
            assert client.get("x").status_code == 201
    transport.shutdown()


def test_the_client_keeps_the_cookies_an_answer_sets_and_sends_them_back() -> None:
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        if request.url.path.endswith("/login"):
            return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"})
        return httpx.Response(200)

    with bind_client(httpx.MockTransport(answer), "http://vendor.sim") as client:
        client.get("plain")
        client.get("login")
        client.get("plain")
        assert client.cookies.get("session") == "abc"
    assert sent == [None, None, "session=abc"]


# -- schemathesis' checks, once per answer --------------------------------------------------------------------------
def status_check(*args: Any) -> None: ...


def schema_check(*args: Any) -> None: ...


class FakeCase:
    """A schemathesis case whose named checks fail; records what `validate_response` was given."""

    def __init__(self, failing: set[Any]) -> None:
        self.failing, self.calls = failing, []

    def validate_response(self, answer: Any, checks: list[Any]) -> None:
        self.calls.append((answer, list(checks)))
        failed = [check for check in checks if check in self.failing]
        if failed:
            raise FailureGroup(
                [
                    Failure(operation="POST /token", title=f"{c.__name__} failed", message="line 1\nline 2")
                    for c in failed
                ]
            )


class FakeExpect:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def that(self, ok: bool, check: str, *, detail: str = "", observed: str = "", **kwargs: Any) -> bool:
        self.recorded.append((check, detail, observed))
        return ok


CHECKS = {status_check: "acme.contract.status_code_conformance", schema_check: "acme.contract.schema"}


def answer() -> httpx.Response:
    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(b"{}"))

    with bind_client(httpx.MockTransport(ok), "http://vendor.sim") as client:
        return client.post("token", content=b"a=1")


def test_conforming_answers_are_checked_in_one_call_on_one_converted_answer() -> None:
    case, expect = FakeCase(set()), FakeExpect()
    check_conformance(expect, case, answer(), CHECKS, "contracts/acme/openapi.yaml")  # type: ignore[arg-type]
    [(converted, checks)] = case.calls
    assert isinstance(converted, Response) and checks == [status_check, schema_check]
    assert expect.recorded == []


def test_a_failure_is_reported_as_the_check_that_found_it() -> None:
    case, expect = FakeCase({schema_check}), FakeExpect()
    check_conformance(expect, case, answer(), CHECKS, "contracts/acme/openapi.yaml")  # type: ignore[arg-type]
    assert expect.recorded == [("acme.contract.schema", "schema_check failed", "line 1 | line 2")]
    assert len({id(converted) for converted, _ in case.calls}) == 1  # converted once, whatever the number of calls


# -- strategies, built once ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "args", "other"),
    [
        (autodesk.token_requests, ("id", Secret("secret"), (autodesk.V2,)), ("id", Secret("secret"))),
        (autodesk.valid_token_requests, ("id", "secret"), ("id", "other")),
        (axeobim.client_requests, ("wrong client_id", "id", "secret"), ("not a form", "id", "secret")),
        (axeobim.user_requests, ("unknown user", "token", "a@b.c"), ("unknown user", "token2", "a@b.c")),
        (axeobim.bearer_problems, ("garbage", None, "a@b.c"), ("huge", None, "a@b.c")),
        (bimplus.malformed_authorizations, ((("GET", "/a"),),), ((("GET", "/b"),),)),
        (kudo.hostile_requests, ("wrong key", Secret("key"), frozenset({400})), ("missing key", "key", frozenset())),
    ],
)
def test_a_strategy_is_built_once_per_set_of_arguments(build: Any, args: tuple, other: tuple) -> None:
    assert build(*args) is build(*args)
    assert build(*other) is not build(*args)


def test_identifier_strategies_draw_what_their_regex_said() -> None:
    import re

    from hypothesis import given, settings

    @settings(max_examples=50, database=None, derandomize=True)
    @given(bimplus._unknown_users, bimplus_oidc._client_ids, bimplus._identifiers("ab_", 0, 3))
    def drawn(user: str, client_id: str, name: str) -> None:
        assert re.fullmatch(r"[a-z]{3,12}@unknown\.invalid", user)
        assert re.fullmatch(r"[a-z][a-z0-9-]{2,20}", client_id)
        assert re.fullmatch(r"[a-z][ab_]{0,3}", name)

    drawn()


# -- the case store (authcanary.pytest.cases) -------------------------------------------------------------------------
AUTODESK_CONTRACT = Path(__file__).parents[2] / "contracts" / "autodesk" / "openapi.yaml"
_SCHEMA = schemathesis.openapi.from_path(AUTODESK_CONTRACT)


def _operation(schema: Any) -> Any:
    return next(iter(schema.get_all_operations())).ok()


@hypothesis.settings(max_examples=25, derandomize=True, database=None, deadline=None)
@hypothesis.given(data=hypothesis.strategies.data())
def test_a_stored_case_comes_back_as_generated(data) -> None:
    """Every part of a generated case survives the store (its metadata too: negative_data_rejection reads it), its
    operation and schemathesis' NOT_SET stay themselves, and it gets a new correlation id, as generating again would."""
    from schemathesis.core import NOT_SET

    from authcanary.pytest.cases import _dumps, _loads

    operation = _operation(_SCHEMA)
    case = data.draw(operation.as_strategy())
    back = _loads(_dumps(case, operation), operation)
    assert back == case and back.operation is operation
    assert (back.body is NOT_SET) == (case.body is NOT_SET)
    assert back.as_transport_kwargs(base_url="http://x") | {"headers": None} == case.as_transport_kwargs(
        base_url="http://x"
    ) | {"headers": None}
    assert {k: v for k, v in back.headers.items() if k != "X-Schemathesis-TestCaseId"} == {
        k: v for k, v in case.headers.items() if k != "X-Schemathesis-TestCaseId"
    }
    assert back.meta is not None and back.meta.generation == case.meta.generation
    assert back.meta.components == case.meta.components


def test_the_case_key_follows_everything_generation_depends_on(tmp_path) -> None:
    from authcanary.pytest.cases import case_key

    def test_a(case):  # pragma: no cover - its source is what counts
        return case

    def test_b(case):  # pragma: no cover
        return (case, 1)

    settings = hypothesis.settings(max_examples=10, derandomize=True)
    first = schemathesis.openapi.from_path(AUTODESK_CONTRACT)
    again = schemathesis.openapi.from_path(AUTODESK_CONTRACT)
    key = case_key(first, _operation(first), test_a, settings)
    assert key == case_key(again, _operation(again), test_a, settings), "stable across loads"
    assert key != case_key(first, _operation(first), test_b, settings), "the test's source"
    assert key != case_key(first, _operation(first), test_a, hypothesis.settings(settings, max_examples=11))
    changed = tmp_path / "openapi.yaml"
    changed.write_text(AUTODESK_CONTRACT.read_text(encoding="utf-8") + "\n# a comment changes no case\n")
    edited = schemathesis.openapi.from_path(changed)
    assert case_key(edited, _operation(edited), test_a, settings) == key, "the same document"
    changed.write_text(AUTODESK_CONTRACT.read_text(encoding="utf-8").replace("minLength: 1", "minLength: 2"))
    edited = schemathesis.openapi.from_path(changed)
    assert case_key(edited, _operation(edited), test_a, settings) != key, "another contract"
    again.config.generation.update(max_examples=3)
    assert case_key(again, _operation(again), test_a, settings) != key, "schemathesis' configuration"


def test_a_damaged_or_foreign_store_file_is_absent(tmp_path) -> None:
    from authcanary.pytest.cases import CaseStore, _dumps

    schema = schemathesis.openapi.from_path(AUTODESK_CONTRACT)
    operations = [result.ok() for result in schema.get_all_operations()]
    store = CaseStore(tmp_path / "cases")
    case = operations[0].Case(body={"grant_type": "client_credentials"}, media_type="application/x-www-form-urlencoded")
    store.save("k", operations[0], [_dumps(case, operations[0])])
    assert store.load("k", operations[0]) == [case]
    assert store.load("k", operations[1]) is None, "another operation's cases"
    assert store.load("missing", operations[0]) is None
    store.path("k").write_bytes(store.path("k").read_bytes()[:40])
    assert store.load("k", operations[0]) is None
    store.path("k").write_bytes(b"garbage")
    assert store.load("k", operations[0]) is None


def test_stored_cases_no_run_reads_for_a_month_are_removed(tmp_path) -> None:
    import os
    import time

    from authcanary.pytest.cases import UNUSED_FOR, CaseStore, _dumps

    operation = _operation(_SCHEMA)
    store = CaseStore(tmp_path)
    case = operation.Case(body={"grant_type": "client_credentials"}, media_type="application/x-www-form-urlencoded")
    for key in ("old", "read", "new"):
        store.save(key, operation, [_dumps(case, operation)])
    month_ago = time.time() - UNUSED_FOR - 60
    for key in ("old", "read"):
        os.utime(store.path(key), (month_ago, month_ago))
    assert store.load("read", operation) == [case]
    store.prune()
    assert sorted(path.stem for path in tmp_path.iterdir()) == ["new", "read"]


def _built(schema: Any, settings: hypothesis.settings) -> Any:
    """The hypothesis test schemathesis builds for the first operation, as the contract tests build it."""
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test

    def test(case):  # pragma: no cover - built, not run
        return case

    return build_operation_test(
        config=schema.config,
        operation=_operation(schema),
        test_func=test,
        given_kwargs={},
        feedback=FeedbackSources(),
        explicit_settings=settings,
    )


def test_only_deterministic_generation_is_stored() -> None:
    """Random generation (neither derandomized nor seeded) is new every run: freezing it into stored cases would
    change what the test does, so it is always generated. Judged on the settings schemathesis ends up with."""
    from authcanary.pytest.cases import _deterministic

    random = hypothesis.settings(derandomize=False, database=None)
    assert not _deterministic(_built(schemathesis.openapi.from_path(AUTODESK_CONTRACT), random))
    assert _deterministic(
        _built(schemathesis.openapi.from_path(AUTODESK_CONTRACT), hypothesis.settings(derandomize=True))
    )
    schema = schemathesis.openapi.from_path(AUTODESK_CONTRACT)
    schema.config.generation.update(deterministic=True)
    assert _deterministic(_built(schema, hypothesis.settings(database=None)))


def test_a_case_stored_by_another_process_keeps_what_generation_marked(tmp_path) -> None:
    """A container's change-tracking hash is salted per process: a case loaded in another process must not look
    changed (schemathesis would then judge again whether it is a negative case)."""
    import subprocess
    import sys

    from authcanary.pytest.cases import _loads

    script = """
import pickle, sys, hypothesis, schemathesis
from authcanary.pytest.cases import _dumps, _unchanged_since_generated
schema = schemathesis.openapi.from_path(sys.argv[1])
for result in schema.get_all_operations():
    operation = result.ok()
    break
blobs = []
@hypothesis.settings(max_examples=40, derandomize=True, database=None, deadline=None)
@hypothesis.given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
def collect(case):
    assert _unchanged_since_generated(case)
    blobs.append((_dumps(case, operation), sorted(str(location) for location in case._meta._dirty)))
collect()
pickle.dump(blobs, open(sys.argv[2], "wb"))
"""
    out = tmp_path / "blobs.pickle"
    subprocess.run([sys.executable, "-c", script, str(AUTODESK_CONTRACT), str(out)], check=True, timeout=120)
    import pickle

    operation = _operation(_SCHEMA)
    blobs = pickle.loads(out.read_bytes())
    assert len(blobs) > 10
    for blob, dirty in blobs:
        case = _loads(blob, operation)
        case._check_modifications()
        assert sorted(str(location) for location in case._meta._dirty) == dirty
        assert any(case.meta.is_negative_at(location) for location in case.meta.components) or not case.meta.components


def test_a_store_this_user_cannot_touch_is_still_read(tmp_path, monkeypatch) -> None:
    import os

    from authcanary.pytest.cases import CaseStore, _dumps

    operation = _operation(_SCHEMA)
    store = CaseStore(tmp_path)
    case = operation.Case(body={"grant_type": "client_credentials"}, media_type="application/x-www-form-urlencoded")
    store.save("k", operation, [_dumps(case, operation)])

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "utime", refuse)
    assert store.load("k", operation) == [case]


def test_a_stored_file_may_hold_only_what_a_case_is_made_of(tmp_path) -> None:
    """The store unpickles schemathesis' classes and plain containers only: a file naming anything else (here
    os.system) is refused, and counts as absent."""
    import os
    import pickle

    from authcanary.pytest.cases import STORE_FORMAT, CaseStore

    operation = _operation(_SCHEMA)
    store = CaseStore(tmp_path)

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo should-not-run > " + str(tmp_path / "ran"),))

    with store.path("k").open("wb") as file:
        pickle.dump({"format": STORE_FORMAT, "operation": operation.label}, file)
        pickle.dump([pickle.dumps(Boom())], file)
    assert store.load("k", operation) is None
    assert not (tmp_path / "ran").exists()


def test_a_case_that_cannot_be_stored_is_generated_every_run() -> None:
    import threading

    from authcanary.pytest.cases import _record

    operation = _operation(_SCHEMA)
    case = operation.Case(body={"grant_type": "client_credentials"}, media_type="application/x-www-form-urlencoded")
    assert _record([], case, operation) is not None
    object.__setattr__(case, "body", {"lock": threading.Lock()})
    assert _record([], case, operation) is None


def test_a_contract_test_is_a_plain_function() -> None:
    from authcanary.pytest.cases import contract_test

    async def test_async(case):  # pragma: no cover - refused before it could run
        return case

    with pytest.raises(TypeError, match="async"):
        contract_test(_SCHEMA, hypothesis.settings())(test_async)
