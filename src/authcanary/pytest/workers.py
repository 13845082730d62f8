"""Vendors in parallel on pytest-xdist (`authcanary run --workers N`): every test of a vendor runs on one worker, so
the vendor's pacing, request budget, rate-limit accounting, stateful order and recordings stay per vendor exactly as
in a one-process run, while different vendors run at the same time. Each worker writes its vendors' findings to
`findings-<worker>.json`; the runner reads them together (`read_findings`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdist.scheduler import LoadScopeScheduling

if TYPE_CHECKING:
    import pytest
    from xdist.workermanage import WorkerController

__all__ = ["VendorScheduling", "worker_id", "findings_file", "read_findings"]

#: where a one-process run writes its findings; workers write `findings-<worker id>.json` beside it
FINDINGS = "findings.json"


class VendorScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with a vendor (`suites/<vendor>/`) as the scope. The vendors with the most tests go
    first (xdist's `--loadscope-reorder`), and a worker gets its next vendor only when it is done with the one it
    has: xdist's default of queueing more work behind a long vendor would keep a short one waiting while another
    worker idles."""

    def _split_scope(self, nodeid: str) -> str:
        parts = nodeid.split("/")
        return "/".join(parts[:2]) if len(parts) > 2 and parts[0] == "suites" else nodeid.rsplit("::", 1)[0]

    def _reschedule(self, node: WorkerController) -> None:
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        # A worker holds back its last test until it knows what comes next (pytest's teardown needs `nextitem`):
        # one pending test means it has finished the rest of its vendor.
        if self._pending_of(self.assigned_work[node]) <= 1:
            self._assign_work_unit(node)


def worker_id(config: pytest.Config) -> str | None:
    """The xdist worker id (`gw0`, ...) of this process, None in a one-process run or on the xdist controller."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput["workerid"])


def is_controller(config: pytest.Config) -> bool:
    """Whether this process only distributes tests to workers (it runs none and writes no findings)."""
    return worker_id(config) is None and config.pluginmanager.getplugin("dsession") is not None


def findings_file(out: Path, worker: str | None) -> Path:
    return out / (FINDINGS if worker is None else f"findings-{worker}.json")


def read_findings(out: Path) -> dict[str, Any]:
    """Every vendor's findings in `out`, from a one-process run or from each worker's file (the files are folded
    into summary.json, so they are removed once read). A vendor reported by two files would mean its tests ran on two
    workers: that is an error, never a silent merge."""
    vendors: dict[str, Any] = {}
    for path in sorted(out.glob("findings*.json")):
        for vendor, findings in json.loads(path.read_text(encoding="utf-8"))["vendors"].items():
            if vendor in vendors:
                raise RuntimeError(f"{vendor}: findings from two workers ({path.name} and another): not merged")
            vendors[vendor] = findings
        path.unlink()
    return vendors
