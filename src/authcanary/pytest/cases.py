"""Contract tests: schemathesis' cases for each operation of a contract, generated once and reused after.

A suite marks its contract test with `contract_test(schema, settings)` (authcanary.suite) where schemathesis would
have `@schema.parametrize()`: one test per operation, named as schemathesis names them (`test[POST /path]`), the
function called once per case with `case` and its fixtures.

Why: generating the cases is most of a contract test's cost (hypothesis draws several candidates per valid case,
and schemathesis rebuilds its strategies on the way), yet the suites generate deterministically (`deterministic=True`:
hypothesis derandomized, seeded by the test), so every run with the same inputs generates the very same cases. On an
embedded target the first run generates them with schemathesis' own test builder, exactly as `schema.parametrize()`
would, and keeps them in the case store (`<hypothesis home>/authcanary/cases`; `authcanary run` keeps hypothesis'
home in `~/.cache/authcanary/hypothesis`), under a key of the contract, the operation, schemathesis' configuration,
the test's source, the settings and the Python and library versions (`case_key`). Later runs reuse them: the same
requests in the same order, each case run as a hypothesis explicit example (so `note`, `assume` and the seeded
`random` behave as they do for a generated case), without generating them again.

Only what a key can stand for is stored: derandomized or seeded generation, and no schemathesis hooks, auth,
configured headers or parameters, or registered constants (their values come from code the key cannot follow).

A reuse that does not pass (a violation, an error, an example lost to an outage) hands the operation back to
hypothesis, which generates again and shrinks to the minimal example as a first run would. The simulator has then
answered the reused requests already (request counts include both; a deviation drawn from a seeded random sequence
draws further), and a failure the new generation does not find again fails the test as flaky, as hypothesis does
with a failure that does not come back. So cases are reused on embedded targets only: on a live target they are
always generated, and the store never sends a vendor a request twice. `--authcanary-fresh-cases`
(`authcanary run --fresh-cases`) generates them even where they are stored.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import json
import marshal
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import hypothesis
import pytest

#: the mark `contract_test` puts on a test: its schema and hypothesis settings
MARK = "authcanary_contract"
#: bump when what the store holds changes shape (or the helpers its pickles name below are renamed)
STORE_FORMAT = 2
#: the libraries generation runs in, besides the contract, the test and the settings
GENERATORS = ("schemathesis", "hypothesis", "jsonschema-rs")
#: stored cases no run has read for this long are removed (contracts and libraries change: old keys are never read)
UNUSED_FOR = 30 * 24 * 3600
#: the operations of the session's contract tests: (schema id, label) -> APIOperation, or the schema's error
OPERATIONS = pytest.StashKey[dict[tuple[int, str], Any]]()
#: what the contract tests did in this session, for the terminal summary
STATS = pytest.StashKey["CaseStats"]()
#: the session's case store (None: none can be used), opened at its first use
STORE = pytest.StashKey["CaseStore | None"]()


def contract_test(schema: Any, settings: hypothesis.settings) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the decorated test once per operation of the schemathesis `schema` and once per case schemathesis
    generates for it (the test takes `case` and any fixtures), with hypothesis `settings`; the cases of an embedded
    target are generated once and reused after (authcanary.pytest.cases)."""

    def decorate(test: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(test):
            raise TypeError(f"{test.__qualname__}: a contract test is a plain function (async ones are not awaited)")
        return getattr(pytest.mark, MARK)(schema=schema, settings=settings)(test)

    return decorate


@dataclass
class CaseStats:
    reused: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    #: reuses that did not pass: "<node id>: <why>"
    handed_back: list[str] = field(default_factory=list)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("authcanary").addoption(
        "--authcanary-fresh-cases",
        action="store_true",
        default=False,
        help="generate the contract tests' cases even where the case store has them (and store them anew)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}(schema, settings): a contract test (authcanary.suite.contract_test)")
    config.stash[STATS] = CaseStats()
    config.stash[OPERATIONS] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per operation, its id (and its `case` parameter until the test runs) the operation's label, as
    schemathesis' own parametrize names them."""
    mark = metafunc.definition.get_closest_marker(MARK)
    if mark is None:
        return
    from schemathesis.core.result import Ok

    schema, operations = mark.kwargs["schema"], metafunc.config.stash[OPERATIONS]
    labels = []
    for result in schema.get_all_operations():
        if isinstance(result, Ok):
            operation = result.ok()
            label = operation.label
        else:  # an operation the contract describes wrongly: its test fails with schemathesis' error
            operation = result.err()
            label = " ".join(filter(None, [(operation.method or "").upper(), operation.path or "?"]))
        operations[(id(schema), label)] = operation
        labels.append(label)
    metafunc.parametrize("case", labels, ids=labels)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    mark = pyfuncitem.get_closest_marker(MARK)
    if mark is None:
        return None
    config, schema, settings = pyfuncitem.config, mark.kwargs["schema"], mark.kwargs["settings"]
    operation = config.stash[OPERATIONS][(id(schema), str(pyfuncitem.funcargs["case"]))]
    if isinstance(operation, Exception):
        raise operation
    # the fixtures the test asks for, as pytest's own pytest_pyfunc_call collects them
    fixtures = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames if name != "case"}
    stats, test = config.stash[STATS], pyfuncitem.obj
    store = _case_store(config) if _may_reuse(pyfuncitem, schema, operation) else None
    key = case_key(schema, operation, test, settings) if store is not None else ""
    not_passed: BaseException | None = None
    if store is not None and not config.getoption("--authcanary-fresh-cases"):
        cases = store.load(key, operation)
        if cases is not None:
            try:
                not_passed = _reuse(test, cases, fixtures, settings)
            except pytest.skip.Exception:
                stats.reused.append(pyfuncitem.nodeid)
                raise
            if not_passed is None:
                stats.reused.append(pyfuncitem.nodeid)
                return True
            stats.handed_back.append(f"{pyfuncitem.nodeid}: {_why(not_passed)}")
    stats.generated.append(pyfuncitem.nodeid)
    recorded = _generate(schema, operation, test, settings, fixtures, record=store is not None)
    if not_passed is not None:
        raise _flaky(not_passed)
    if store is not None and recorded is not None:
        store.save(key, operation, recorded)
    return True


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its counts to the controller, which prints the summary."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        stats = session.config.stash[STATS]
        workeroutput["authcanary_cases"] = {name: getattr(stats, name) for name in CaseStats.__dataclass_fields__}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    counted = getattr(node, "workeroutput", {}).get("authcanary_cases")
    stats = node.config.stash.get(STATS, None)
    if counted and stats is not None:
        for name, entries in counted.items():
            getattr(stats, name).extend(entries)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    stats = config.stash.get(STATS, None)
    if stats is None or not (stats.reused or stats.generated):
        return
    line = f"contract cases: {len(stats.generated)} operation(s) generated"
    if stats.reused or stats.handed_back:
        line += f", {len(stats.reused)} reused from the case store"
    terminalreporter.write_line(line)
    for entry in stats.handed_back:
        terminalreporter.write_line(f"  stored cases did not pass, generated again: {entry}")


def _reuse(
    test: Callable[..., Any], cases: list[Any], fixtures: dict[str, Any], settings: hypothesis.settings
) -> BaseException | None:
    """Run `test` on each stored case, in order, as hypothesis' explicit examples; what stopped it at the first one
    that did not pass (the rest are not sent), or None. A skip (an operation the vendor no longer serves) is the
    test's verdict, as it would be on a generated case."""
    rejected: list[BaseException] = []

    def run_case(case: Any) -> None:
        try:
            test(case=case, **fixtures)
        except hypothesis.errors.UnsatisfiedAssumption as rejection:  # hypothesis skips a rejected explicit example
            rejected.append(rejection)
            raise

    reuse = hypothesis.given(case=hypothesis.strategies.just(None))(run_case)
    for case in reversed(cases):  # hypothesis runs the explicit examples from the outermost decorator in
        reuse = hypothesis.example(case=case)(reuse)
    reuse = hypothesis.settings(
        settings, phases=[hypothesis.Phase.explicit], database=None, report_multiple_bugs=False
    )(reuse)
    try:
        reuse()
    except (pytest.skip.Exception, pytest.exit.Exception, KeyboardInterrupt, SystemExit) as stop:
        vars(stop).pop("__notes__", None)  # hypothesis' "Failing explicit example: ...": the skip says why itself
        raise
    except BaseException as error:  # noqa: BLE001  # pytest.fail's is one: any failure or error hands back
        return error
    return rejected[0] if rejected else None


def _why(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200] if str(error).strip() else ''}"


def _flaky(error: BaseException) -> BaseException:
    """A failure of the stored cases that generating them again did not find: hypothesis' Flaky, as when a failing
    example passes on its replay (authcanary's session then tells an outage from a finding)."""
    from hypothesis.errors import FlakyFailure

    cause = error if isinstance(error, Exception) else RuntimeError(_why(error))
    return FlakyFailure(
        "the stored cases failed, but the cases generated again passed: the failure did not come back", [cause]
    )


def _generate(
    schema: Any,
    operation: Any,
    test: Callable[..., Any],
    settings: hypothesis.settings,
    fixtures: dict[str, Any],
    *,
    record: bool,
) -> list[bytes] | None:
    """Run `test` under the hypothesis test schemathesis builds for `operation` (its coverage, examples and fuzzing
    phases, as `schema.parametrize()` does, and its checks of what it could not generate). With `record`: the cases
    it ran, pickled as they were handed over, when they can stand for every later run (each passed the first time,
    generation was deterministic, every case pickles); else None."""
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test
    from schemathesis.python._constants.orchestrator import make_constants_value_source

    recorded: list[bytes] | None = [] if record else None

    @functools.wraps(test)
    def recording(case: Any, **kwargs: Any) -> Any:
        nonlocal recorded
        if recorded is not None:
            recorded = _record(recorded, case, operation)
        try:
            return test(case=case, **kwargs)
        except BaseException:
            recorded = None  # a failing, rejected or shrunk run is not what a clean run generates
            raise

    hypothesis_test = build_operation_test(
        config=schema.config,
        operation=operation,
        test_func=recording,
        given_kwargs={},
        feedback=FeedbackSources(constants_value_source=make_constants_value_source(schema)),
        explicit_settings=settings,
    )
    hypothesis_test(**fixtures)
    if _left_untested(hypothesis_test):
        return None
    return recorded if recorded is not None and _deterministic(hypothesis_test) else None


def _record(recorded: list[bytes], case: Any, operation: Any) -> list[bytes] | None:
    if not _unchanged_since_generated(case):
        return None
    try:
        recorded.append(_dumps(case, operation))
    except Exception:  # noqa: BLE001  # a case that cannot be stored (a hook put a lock in it): generate every run
        return None
    return recorded


def _left_untested(hypothesis_test: Any) -> bool:
    """What schemathesis' pytest plugin does after a `schema.parametrize()` test: a path parameter or an example
    header it could not generate fails the test, a payload it could not serialise is a warning. True when part of
    the operation went untested (its cases are then never stored: every run says so again)."""
    from schemathesis.core.errors import InvalidHeadersExample
    from schemathesis.generation.hypothesis.builder import (
        InvalidHeadersExampleMark,
        MissingPathParameters,
        UnserializablePayloadMark,
    )
    from schemathesis.pytest.warnings import emit_unserializable_payload_warning

    if (missing := MissingPathParameters.get(hypothesis_test)) is not None:
        raise missing
    if (invalid := InvalidHeadersExampleMark.get(hypothesis_test)) is not None:
        raise InvalidHeadersExample.from_headers(invalid)
    if (unserializable := UnserializablePayloadMark.get(hypothesis_test)) is not None:
        emit_unserializable_payload_warning(unserializable)
        return True
    return False


def _deterministic(hypothesis_test: Any) -> bool:
    """Whether the hypothesis test schemathesis built generates the same cases on every run: derandomized, or seeded
    with no example database to replay from. Random generation is never frozen into a store."""
    effective = getattr(hypothesis_test, "_hypothesis_internal_use_settings", None)
    if effective is None:
        return False
    seeded = getattr(hypothesis_test, "_hypothesis_internal_use_seed", None) is not None
    return bool(effective.derandomize) or (seeded and hypothesis.Phase.reuse not in effective.phases)


def _may_reuse(item: pytest.Function, schema: Any, operation: Any) -> bool:
    """Stored cases are used on an embedded target only (a reuse that does not pass is sent again by hypothesis),
    and only where the key stands for everything generation reads: no schemathesis hooks, auth, configured headers
    or parameters (they may hold credentials), or registered constants."""
    from schemathesis.generation.hypothesis.builder import HookDispatcherMark
    from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER
    from schemathesis.python._constants.orchestrator import make_constants_value_source

    from authcanary.pytest.session import SESSION, VENDOR

    vendor = item.stash.get(VENDOR, None)
    if vendor is None or not item.config.stash[SESSION].vendor_target(vendor).embedded:
        return False
    config = schema.config
    return not (
        GLOBAL_HOOK_DISPATCHER.get_all()
        or schema.hooks.get_all()
        or HookDispatcherMark.get(item.obj) is not None
        or config.auth_for(operation=operation) is not None
        or config.headers_for(operation=operation)
        or config.parameters
        or make_constants_value_source(schema) is not None
    )


def case_key(schema: Any, operation: Any, test: Callable[..., Any], settings: hypothesis.settings) -> str:
    """What the cases schemathesis generates for `operation` depend on: the contract, the operation, schemathesis'
    configuration for it, the test (hypothesis seeds a derandomized test by its source), the settings, and the
    versions of Python and of the generating libraries. Any change gives a new key: the cases are generated again.
    (A contract whose `$ref`s point into other files is keyed by its own document only.)"""
    config = schema.config
    default = hypothesis.settings.default
    parts = {
        "format": STORE_FORMAT,
        "python": sys.version,
        "libraries": {name: _version(name) for name in GENERATORS},
        "contract": hashlib.sha256(json.dumps(schema.raw_schema, sort_keys=True, default=str).encode()).hexdigest(),
        "operation": operation.label,
        "generation": repr(config.generation_for(operation=operation, phase="fuzzing")),
        "phases": repr(config.phases_for(operation=operation)),
        "hypothesis": repr(config.get_hypothesis_settings(operation=operation, phase="fuzzing")),
        "seed": config.seed if config.has_explicit_seed else None,
        "settings": repr(settings),
        # the loaded profile, but not where its example database lives (a moved checkout or cache is no change)
        "profile": repr(hypothesis.settings(default, database=None)) if default is not None else None,
        "test": f"{test.__module__}.{test.__qualname__}:{_source(test)}",
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _source(test: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(test)
    except (OSError, TypeError):
        return hashlib.sha256(marshal.dumps(test.__code__)).hexdigest()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def _case_store(config: pytest.Config) -> CaseStore | None:
    """The session's store, in hypothesis' home (a run's cache folder); old files pruned when it is first opened."""
    if STORE not in config.stash:
        from hypothesis.configuration import storage_directory

        folder = storage_directory("authcanary", "cases")
        store: CaseStore | None
        try:
            folder.create_if_missing()  # and hypothesis' .gitignore in a new home (./.hypothesis of a checkout)
            store = CaseStore(folder.path)
            store.prune()
        except OSError:
            store = None
        config.stash[STORE] = store
    return config.stash[STORE]


# -- the store: one file per key, the cases pickled with their operation left out -------------------------------------
class CaseStore:
    """The cases of each key, in a folder. What cannot be read (damaged, another format, another operation) counts as
    absent: the cases are generated again and the file replaced. The cases are generated data only (the suites add the
    target's credentials to the request they build from a case), never an answer or a secret."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pickle"

    def load(self, key: str, operation: Any) -> list[Any] | None:
        try:
            with self.path(key).open("rb") as file:
                header = _Unpickler(file, {}).load()
                if header != {"format": STORE_FORMAT, "operation": operation.label}:
                    return None
                cases = [_loads(blob, operation) for blob in _Unpickler(file, {}).load()]
        except Exception:  # noqa: BLE001  # absent, damaged or foreign: generate again
            return None
        try:
            os.utime(self.path(key))  # in use: not pruned
        except OSError:
            pass  # a store this user cannot touch is still read
        return cases

    def save(self, key: str, operation: Any, cases: list[bytes]) -> None:
        try:
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".writing-")
            with os.fdopen(handle, "wb") as file:
                pickle.dump({"format": STORE_FORMAT, "operation": operation.label}, file)
                pickle.dump(cases, file)
            os.replace(temporary, self.path(key))
        except OSError:
            pass  # a read-only or full cache only costs the next run the generation

    def prune(self, now: float | None = None) -> None:
        """Remove what no run has read or written for `UNUSED_FOR` (and writes abandoned as long ago)."""
        oldest = (time.time() if now is None else now) - UNUSED_FOR
        for path in self.folder.iterdir():
            try:
                if path.stat().st_mtime < oldest:
                    path.unlink()
            except OSError:
                pass  # another run's: it prunes its own


# -- one case in and out of a pickle -------------------------------------------------------------------------------
#: objects a case refers to that must stay themselves: its operation, and schemathesis' NOT_SET
def _shared(operation: Any) -> dict[str, Any]:
    from schemathesis.core import NOT_SET

    return {"operation": operation, "not_set": NOT_SET}


#: what a stored case may be made of (the unpickler loads nothing else): schemathesis' classes, a few containers
ALLOWED_MODULES = {"requests.structures", "collections", "enum", __name__}
ALLOWED_BUILTINS = {"set", "frozenset", "dict", "list", "tuple", "bytes", "bytearray", "complex", "slice", "range"}


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, shared: dict[str, Any]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared = {id(value): name for name, value in shared.items()}

    def persistent_id(self, obj: Any) -> str | None:
        return self.shared.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        from schemathesis.generation.case import Case

        # a Case tracks changes to its containers in __setattr__, which pickle's default restore would trip on
        # before its metadata is back: it is restored slot by slot, past __setattr__
        if isinstance(obj, Case):
            state = {name: getattr(obj, name) for name in Case.__slots__ if hasattr(obj, name)}
            return _new_object, (type(obj),), state, None, None, _set_slots
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, shared: dict[str, Any]) -> None:
        super().__init__(file)
        self.shared = shared

    def persistent_load(self, pid: Any) -> Any:
        return self.shared[pid]

    def find_class(self, module: str, name: str) -> Any:
        allowed = module.startswith("schemathesis.") or module in ALLOWED_MODULES
        if allowed or (module == "builtins" and name in ALLOWED_BUILTINS):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a stored case may not hold {module}.{name}")


def _new_object(cls: type[Any]) -> Any:
    return object.__new__(cls)


def _set_slots(obj: Any, state: dict[str, Any]) -> None:
    for name, value in state.items():
        object.__setattr__(obj, name, value)


def _unchanged_since_generated(case: Any) -> bool:
    """Whether the generated parts of the case are as generation left them: their change tracking (container hashes,
    which differ between processes) can then be taken anew when it is loaded. (What it already marked as changed,
    it keeps.)"""
    meta = case._meta
    if meta is None:
        return True
    return all(
        meta._last_validated_hashes.get(location)
        == meta._initial_hashes.get(location)
        == case._hash_container(case.get_container(location))
        for location in meta.components
    )


def _dumps(case: Any, operation: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, _shared(operation)).dump(case)
    return buffer.getvalue()


def _loads(blob: bytes, operation: Any) -> Any:
    """A stored case as generation left it: its change tracking taken in this process (a container's hash is salted
    per process), and a new correlation id (`X-Schemathesis-TestCaseId`), as generating it again would give."""
    from schemathesis.generation import generate_random_case_id

    case = _Unpickler(io.BytesIO(blob), _shared(operation)).load()
    object.__setattr__(case, "id", generate_random_case_id())
    meta = case._meta
    for location in meta.components if meta is not None else ():
        meta._last_validated_hashes[location] = meta._initial_hashes[location] = case._hash_container(
            case.get_container(location)
        )
    return case
