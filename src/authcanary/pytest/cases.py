"""Contract tests: schemathesis' cases for each operation of a contract, generated once and replayed after.

A suite marks its contract test with `contract_test(schema, settings)` (authcanary.suite) where schemathesis would
have `@schema.parametrize()`: one test per operation, named as schemathesis names them (`test[POST /path]`), the
function called once per case with `case` and its fixtures.

Why: generating the cases is most of a contract test's cost (hypothesis draws several candidates per valid case, and
the coverage phase builds its boundary cases up front), yet the suites generate deterministically
(`deterministic=True`: hypothesis derandomized, seeded by the test), so every run with the same inputs generates the
very same cases. On an embedded target the first run generates them with schemathesis, exactly as
`schema.parametrize()` would, and keeps them in the case store (`<hypothesis home>/authcanary/cases`, by
`authcanary run` under `~/.cache/authcanary`), keyed by everything generation depends on (`case_key`). Later runs
replay them: the same requests in the same order, without generating them again.

A replay that does not pass (a violation, an error, an example lost to an outage, a changed answer) hands the
operation back to hypothesis, which generates again and shrinks to the minimal example as a first run would; the
replayed requests are then sent a second time. So on a live target cases are always generated: the store never adds
a request to a vendor's count. `--authcanary-fresh-cases` (`authcanary run --fresh-cases`) ignores what is stored.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import hypothesis
import pytest

#: the mark `contract_test` puts on a test: its schema and hypothesis settings
MARK = "authcanary_contract"
#: bump when what the store holds changes shape
STORE_FORMAT = 1
#: what generation depends on besides the contract, the test and the settings
GENERATORS = ("schemathesis", "hypothesis", "hypothesis-jsonschema", "jsonschema-rs")
#: stored cases no run has read for this long are removed (contracts and libraries change: old keys are never read)
UNUSED_FOR = 30 * 24 * 3600
#: counts of replayed and generated operations in this session, for the terminal summary
STATS = pytest.StashKey["CaseStats"]()


def contract_test(schema: Any, settings: hypothesis.settings) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the decorated test once per operation of the schemathesis `schema` and once per case schemathesis
    generates for it (the test takes `case` and any fixtures), with hypothesis `settings`; the cases of an embedded
    target are generated once and replayed after (authcanary.pytest.cases)."""

    def decorate(test: Callable[..., Any]) -> Callable[..., Any]:
        return getattr(pytest.mark, MARK)(schema=schema, settings=settings)(test)

    return decorate


@dataclass
class CaseStats:
    replayed: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    handed_back: list[str] = field(default_factory=list)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}(schema, settings): a contract test (authcanary.suite.contract_test)")
    config.stash[STATS] = CaseStats()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("authcanary").addoption(
        "--authcanary-fresh-cases",
        action="store_true",
        default=False,
        help="generate the contract tests' cases even where the case store has them (and store them anew)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per operation, its id the operation's label (as schemathesis' own parametrize names them)."""
    mark = metafunc.definition.get_closest_marker(MARK)
    if mark is None:
        return
    from schemathesis.core.result import Ok

    params = []
    for result in mark.kwargs["schema"].get_all_operations():
        if isinstance(result, Ok):
            params.append(pytest.param(result.ok(), id=result.ok().label))
        else:  # an operation the contract describes wrongly: its test fails with schemathesis' error
            error = result.err()
            params.append(pytest.param(error, id=f"{error.method or ''} {error.path}".strip()))
    metafunc.parametrize("case", params)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    mark = pyfuncitem.get_closest_marker(MARK)
    if mark is None:
        return None
    schema, settings = mark.kwargs["schema"], mark.kwargs["settings"]
    fixtures = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames if name != "case"}
    operation = pyfuncitem.funcargs["case"]
    if isinstance(operation, Exception):
        raise operation
    stats = pyfuncitem.config.stash[STATS]
    store = _store(pyfuncitem) if _replays(pyfuncitem) and _deterministic(schema, operation, settings) else None
    key = case_key(schema, operation, pyfuncitem.obj, settings)
    if store is not None and not pyfuncitem.config.getoption("--authcanary-fresh-cases"):
        cases = store.load(key, operation)
        if cases is not None:
            if _replay(pyfuncitem.obj, cases, fixtures):
                stats.replayed.append(pyfuncitem.nodeid)
                return True
            stats.handed_back.append(pyfuncitem.nodeid)
    stats.generated.append(pyfuncitem.nodeid)
    recorded = _generate(schema, operation, pyfuncitem.obj, settings, fixtures)
    if store is not None and recorded is not None:
        store.save(key, operation, recorded)
    return True


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its counts to the controller, which prints the summary."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["authcanary_cases"] = asdict(session.config.stash[STATS])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    counted = getattr(node, "workeroutput", {}).get("authcanary_cases")
    stats = node.config.stash.get(STATS, None)
    if counted and stats is not None:
        for name, nodeids in counted.items():
            getattr(stats, name).extend(nodeids)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    stats = config.stash.get(STATS, None)
    if stats is None or not (stats.replayed or stats.generated):
        return
    line = f"contract cases: {len(stats.replayed)} operation(s) replayed from the case store, "
    line += f"{len(stats.generated)} generated"
    if stats.handed_back:
        line += f" ({len(stats.handed_back)} replay(s) did not pass and were handed back to hypothesis)"
    terminalreporter.write_line(line)


def _replay(test: Callable[..., Any], cases: list[Any], fixtures: dict[str, Any]) -> bool:
    """Call `test` with each stored case; False (and the rest not sent) at the first one that does not pass. A skip
    (an operation the vendor no longer serves) is the test's verdict, as it would be on a generated case."""
    for case in cases:
        try:
            test(case=case, **fixtures)
        except (pytest.skip.Exception, pytest.exit.Exception, KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001  # pytest.fail's is one: any failure, error or rejection hands back
            return False
    return True


def _generate(
    schema: Any, operation: Any, test: Callable[..., Any], settings: hypothesis.settings, fixtures: dict[str, Any]
) -> list[bytes] | None:
    """Run `test` under the hypothesis test schemathesis builds for `operation` (its coverage, examples and fuzzing
    phases, as `schema.parametrize()` does); the cases it ran, pickled as they were handed over, when every one
    passed the first time (else None: a shrunk or rejected run is not what a clean run generates)."""
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test
    from schemathesis.python._constants.orchestrator import make_constants_value_source

    recorded: list[bytes] = []
    clean = True

    @functools.wraps(test)
    def recording(case: Any, **kwargs: Any) -> Any:
        nonlocal clean
        recorded.append(_dumps(case, operation))
        try:
            return test(case=case, **kwargs)
        except BaseException:
            clean = False
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
    return recorded if clean else None


def case_key(schema: Any, operation: Any, test: Callable[..., Any], settings: hypothesis.settings) -> str:
    """What the cases schemathesis generates for `operation` depend on: the contract, the operation, schemathesis'
    configuration for it, the test (hypothesis seeds a derandomized test by its source), the settings, and the
    versions of Python and of the generating libraries. Any change gives a new key: the cases are generated again."""
    config = schema.config
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
        "profile": repr(hypothesis.settings.default),
        "test": f"{test.__module__}.{test.__qualname__}:{_source(test)}",
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _deterministic(schema: Any, operation: Any, settings: hypothesis.settings) -> bool:
    """Whether every run generates the same cases: derandomized (by the settings or schemathesis' `deterministic`)
    or seeded, and no constants registered with schemathesis (`@schemathesis.python.constants`: their values come
    from code the key cannot follow). Random generation is never frozen into a replay."""
    from schemathesis.python._constants.orchestrator import make_constants_value_source

    config = schema.config
    seeded = settings.derandomize or config.generation_for(operation=operation, phase="fuzzing").deterministic
    return (seeded or config.has_explicit_seed) and make_constants_value_source(schema) is None


def _source(test: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(test)
    except (OSError, TypeError):
        return test.__code__.co_code.hex()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def _replays(item: pytest.Function) -> bool:
    """Replay only where it adds no request to a vendor: an embedded target (a replay that does not pass is sent
    again by hypothesis)."""
    from authcanary.pytest.session import SESSION, VENDOR

    vendor = item.stash.get(VENDOR, None)
    return vendor is not None and item.config.stash[SESSION].vendor_target(vendor).embedded


def _store(item: pytest.Function) -> CaseStore | None:
    from hypothesis.configuration import storage_directory

    try:
        return CaseStore(storage_directory("authcanary", "cases").path)
    except OSError:
        return None


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
                header = pickle.load(file)
                if header != {"format": STORE_FORMAT, "operation": operation.label}:
                    return None
                cases = [_loads(blob, operation) for blob in pickle.load(file)]
            os.utime(self.path(key))  # in use: not pruned
            return cases
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001  # a damaged or foreign file is absent: regenerate
            return None

    def save(self, key: str, operation: Any, cases: list[bytes]) -> None:
        try:
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".writing-")
            with os.fdopen(handle, "wb") as file:
                pickle.dump({"format": STORE_FORMAT, "operation": operation.label}, file)
                pickle.dump(cases, file)
            os.replace(temporary, self.path(key))
            self.prune()
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


#: objects a case refers to that must stay themselves across a replay: its operation, and schemathesis' NOT_SET
def _shared(operation: Any) -> dict[str, Any]:
    from schemathesis.core import NOT_SET

    return {"operation": operation, "not_set": NOT_SET}


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, shared: dict[str, Any]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared = {id(value): name for name, value in shared.items()}

    def persistent_id(self, obj: Any) -> str | None:
        return self.shared.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        # a Case tracks changes to its containers in __setattr__, which pickle's default restore would trip on
        # before its metadata is back: it is restored slot by slot, past __setattr__
        if type(obj).__name__ == "Case" and hasattr(type(obj), "__slots__"):
            state = {name: getattr(obj, name) for name in type(obj).__slots__ if hasattr(obj, name)}
            return _new_object, (type(obj),), state, None, None, _set_slots
        return NotImplemented


def _new_object(cls: type[Any]) -> Any:
    return object.__new__(cls)


def _set_slots(obj: Any, state: dict[str, Any]) -> None:
    for name, value in state.items():
        object.__setattr__(obj, name, value)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, shared: dict[str, Any]) -> None:
        super().__init__(file)
        self.shared = shared

    def persistent_load(self, pid: Any) -> Any:
        return self.shared[pid]


def _dumps(case: Any, operation: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, _shared(operation)).dump(case)
    return buffer.getvalue()


def _loads(blob: bytes, operation: Any) -> Any:
    """A stored case, with a new correlation id (`X-Schemathesis-TestCaseId`), as generating it again would give."""
    from schemathesis.generation import generate_random_case_id

    case = _Unpickler(io.BytesIO(blob), _shared(operation)).load()
    object.__setattr__(case, "id", generate_random_case_id())
    return case
