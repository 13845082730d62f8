"""`authcanary serve`: the simulators as real HTTP servers (uvicorn), bound to loopback by default."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authcanary.errors import ConfigError
from authcanary.registry import VENDORS
from authcanary.simulators.framework import ANY_ORIGIN, CONTROL_PREFIX, Simulator, UnknownProfile, build_app
from authcanary.simulators.profiles import split_profile

#: `AUTHCANARY_SERVE_CLIENT_SECRET=...` sets the simulator key client_secret (under --options-file and --option)
ENV_PREFIX = "AUTHCANARY_SERVE_"


def simulator_keys() -> set[str]:
    """Every option and registered-credential key some vendor's simulator takes."""
    return {
        key
        for spec in VENDORS.values()
        for key in (*spec.simulator_class().option_defaults, *spec.simulator_class().default_settings())
    }


def options_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """KEY=VALUE from `AUTHCANARY_SERVE_<KEY>` variables; a variable no simulator knows is a ConfigError."""
    known = {ENV_PREFIX + key.upper(): key for key in simulator_keys()}
    found = {name: value for name, value in environ.items() if name.startswith(ENV_PREFIX)}
    if unknown := sorted(set(found) - set(known)):
        raise ConfigError(
            f"unknown environment variable(s) {', '.join(unknown)}.", f"Known: {', '.join(sorted(known))}."
        )
    return {known[name]: value.strip() for name, value in found.items()}


def options_from_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (`#` comments and blank lines allowed). Errors name the file and line, never a value."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the options file {path}: {getattr(exc, 'strerror', None) or 'not UTF-8'}.",
            "Pass a readable UTF-8 file of KEY=VALUE lines to --options-file.",
        ) from None
    known, parsed = simulator_keys(), {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise ConfigError(f"{path}:{number}: the line is not KEY=VALUE.", "Write e.g. client_secret=... on it.")
        if key not in known:
            raise ConfigError(f"{path}:{number}: unknown key '{key}'.", f"Known: {', '.join(sorted(known))}.")
        if key in parsed:
            raise ConfigError(f"{path}:{number}: '{key}' is set twice.", "Keep one line per key.")
        parsed[key] = value.strip()
    return parsed


def build_simulators(
    vendor: str,
    profile: str,
    options: list[str],
    *,
    options_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Simulator]:
    """Instantiate the requested simulators; bad names, profiles or options are ConfigErrors. With `all`, each
    deviation of `profile` applies to the vendors that define it (see `split_profile`). Options and credentials
    come from `options` (KEY=VALUE), over `options_file`, over `environ`'s AUTHCANARY_SERVE_<KEY>."""
    if vendor != "all" and vendor not in VENDORS:
        raise ConfigError(f"unknown vendor '{vendor}'.", f"Use all or one of: {', '.join(sorted(VENDORS))}.")
    profiles = split_profile(profile, sorted(VENDORS)) if vendor == "all" else {vendor: profile}
    given: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {item!r} is not KEY=VALUE.", "Write e.g. --option v1_decommission=2024-04-30.")
        given[key.strip()] = value.strip()
    # the file and the environment may hold keys of vendors not served now; only --option keys must be used
    parsed = {
        **options_from_environment(environ or {}),
        **(options_from_file(options_file) if options_file else {}),
        **given,
    }
    simulators = {}
    for name, own_profile in profiles.items():
        cls = VENDORS[name].simulator_class()
        own = {k: v for k, v in parsed.items() if k in cls.option_defaults}
        # the registered credentials (client_id, password, ...) so a loopback target can use its own values
        settings = {k: v for k, v in parsed.items() if k in cls.default_settings()}
        try:
            simulators[name] = cls(profile=own_profile, options=own, settings=settings)
        except UnknownProfile as exc:
            raise ConfigError(f"{exc}.", "See `authcanary profiles`.") from None
        except ValueError as exc:
            raise ConfigError(
                f"{exc}.", "Fix the value (in --option, --options-file or AUTHCANARY_SERVE_<KEY>)."
            ) from None
    known = {k for s in simulators.values() for k in (*s.options, *s.default_settings())}
    if unused := set(given) - known:
        raise ConfigError(
            f"unknown simulator option(s): {', '.join(sorted(unused))}.", f"Known: {', '.join(sorted(known))}."
        )
    return simulators


class AccessLog:
    """One line per request: method, path (never the query string, which may carry tokens), status, time; a client
    gone before its body arrived is one line too, never a traceback."""

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

        try:
            await self.app(scope, receive, record)
        except ClientDisconnect:
            self.console.print(f"{scope['method']} {scope['path']} -> client disconnected", highlight=False)
            return
        if CONTROL_PREFIX not in scope["path"]:
            self.console.print(
                f"{scope['method']} {scope['path']} -> {status} ({(time.perf_counter() - started) * 1000:.1f} ms)",
                highlight=False,
            )


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (uvicorn listens on it); a port in use or a host that cannot be bound is a
    ConfigError."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        return sock
    except OSError as exc:
        if sock is not None:
            sock.close()
        fix = (
            "Another process listens there; pick another --port."
            if exc.errno == errno.EADDRINUSE
            else "Pass a --host of this machine (e.g. 127.0.0.1) and a --port you may bind (e.g. 8700)."
        )
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}.", fix) from None


def serve(
    vendor: str,
    host: str,
    port: int,
    profile: str,
    prefix: str,
    options: list[str],
    log: Console,
    *,
    options_file: Path | None = None,
    cors_origins: Iterable[str] = ANY_ORIGIN,
) -> None:
    """Serve until interrupted."""
    simulators = build_simulators(vendor, profile, options, options_file=options_file, environ=os.environ)
    sock = bind(host, port)
    port = sock.getsockname()[1]  # the port given, or the one the system chose for --port 0
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        log.print(
            f"[yellow]warning:[/] binding to {host}: the simulators accept any credentials they were "
            "given and are meant for loopback."
        )
    app = AccessLog(build_app(simulators, prefix, cors_origins), log)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    base = f"http://{netloc}{'/' + prefix.strip('/') if prefix.strip('/') else ''}"
    for name, simulator in simulators.items():
        where = base if len(simulators) == 1 else f"{base}/{name}"
        log.print(
            f"{name} simulator, profile [bold]{simulator.profile}[/], at {where} "
            f"(control plane: {where}{CONTROL_PREFIX}/info)",
            highlight=False,
            soft_wrap=True,
        )
    # date_header off: a simulator dates its answers by its virtual clock (one Date header, not uvicorn's as well)
    config = uvicorn.Config(app, access_log=False, log_level="warning", lifespan="off", date_header=False)
    with sock:
        uvicorn.Server(config).run(sockets=[sock])
