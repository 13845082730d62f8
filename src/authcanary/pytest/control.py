"""Driving a simulator's control plane (`/__authcanary__/`): the same in-process and over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from authcanary.simulators.framework import CONTROL_PREFIX


class SimulatorControl:
    """Drives a simulator's `/__authcanary__/` control plane (clock, faults, reset)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(f"{CONTROL_PREFIX}/{path}", json=body or {})
        if response.status_code != 200:
            raise RuntimeError(f"simulator control {path} failed: {response.status_code} {response.text[:200]}")
        return response.json()

    def info(self) -> dict[str, Any]:
        response = self.client.get(f"{CONTROL_PREFIX}/info")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._post("reset")

    def advance(self, seconds: float) -> float:
        """Move the virtual clock forward; returns the new virtual time."""
        return self._post("clock", {"advance": seconds})["now"]

    def fault(self, status: int, count: int = 1) -> None:
        self._post("fault", {"status": status, "count": count})

    def command(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A vendor simulator's own control endpoint, `POST /__authcanary__/<name>` (e.g. Bimplus `rotate-keys`)."""
        return self._post(name, body)


class ReplayedControl(SimulatorControl):
    """Replay mode: the recorded answers already carry the effect of every clock jump and fault."""

    def __init__(self) -> None:
        pass

    def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"now": 0.0}  # what the clock answers; other commands' answers are not replayed

    def info(self) -> dict[str, Any]:
        return {"replay": True}
