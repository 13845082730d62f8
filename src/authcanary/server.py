"""`authcanary serve`: the simulators as real HTTP servers (uvicorn), bound to loopback by default."""
from __future__ import annotations

import ipaddress
import time
from typing import Any

import uvicorn
from rich.console import Console
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authcanary.errors import ConfigError
from authcanary.registry import VENDORS
from authcanary.simulators.framework import CONTROL_PREFIX, Simulator, build_app


def build_simulators(vendor: str, profile: str, options: list[str]) -> dict[str, Simulator]:
    """Instantiate the requested simulators; bad names, profiles or options are ConfigErrors."""
    names = sorted(VENDORS) if vendor == "all" else [vendor]
    if vendor != "all" and vendor not in VENDORS:
        raise ConfigError(f"unknown vendor '{vendor}'.", f"Use all or one of: {', '.join(sorted(VENDORS))}.")
    parsed: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {item!r} is not KEY=VALUE.", "Write e.g. --option v1_decommission=2024-04-30.")
        parsed[key.strip()] = value.strip()
    simulators = {}
    for name in names:
        cls = VENDORS[name].simulator_class()
        own = {k: v for k, v in parsed.items() if k in cls.option_defaults}
        # the registered credentials (client_id, password, ...) so a loopback target can use its own values
        settings = {k: v for k, v in parsed.items() if k in cls.default_settings()}
        try:
            simulators[name] = cls(profile=profile, options=own, settings=settings)
        except ValueError as exc:
            raise ConfigError(f"{exc}.", "See `authcanary profiles`.") from None
    known = {k for s in simulators.values() for k in (*s.options, *s.default_settings())}
    if unused := set(parsed) - known:
        raise ConfigError(f"unknown simulator option(s): {', '.join(sorted(unused))}.",
                          f"Known: {', '.join(sorted(known))}.")
    return simulators


class AccessLog:
    """One line per request: method, path (never the query string, which may carry tokens), status, time."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app, self.console = app, console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 0

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, record)
        if CONTROL_PREFIX not in scope["path"]:
            self.console.print(f"{scope['method']} {scope['path']} -> {status} "
                               f"({(time.perf_counter() - started) * 1000:.1f} ms)", highlight=False)


def serve(vendor: str, host: str, port: int, profile: str, prefix: str, options: list[str], log: Console) -> None:
    """Serve until interrupted."""
    simulators = build_simulators(vendor, profile, options)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        log.print(f"[yellow]warning:[/] binding to {host}: the simulators accept any credentials they were "
                  "given and are meant for loopback.")
    app = AccessLog(build_app(simulators, prefix), log)
    base = f"http://{host}:{port}{'/' + prefix.strip('/') if prefix.strip('/') else ''}"
    for name, simulator in simulators.items():
        where = base if len(simulators) == 1 else f"{base}/{name}"
        log.print(f"{name} simulator, profile [bold]{simulator.profile}[/], at {where} "
                  f"(control plane: {where}{CONTROL_PREFIX}/info)", highlight=False)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", lifespan="off")
