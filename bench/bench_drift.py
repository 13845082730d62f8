"""Benchmark the drift engine against a naive DeepDiff of the raw cassettes.

    .venv/bin/python bench/bench_drift.py [--interactions 10000] [--cassettes 250]

Writes two recordings of the same behaviour (same requests and response shapes, different tokens, ids,
timestamps and lifetimes) as genuine vcrpy cassettes in a temp dir, then times, in one run:
``authcanary.drift.compare`` (target < 2 s, 0 findings) and ``deepdiff.DeepDiff`` over the loaded YAML.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from deepdiff import DeepDiff
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from authcanary.drift import compare

VENDORS = ("autodesk", "bimplus", "axeobim", "kudo")
JWT_CLAIMS = "claims=[aud,client_id,exp,iat,jti,scope]"


class Recorder:
    """Produces interactions whose volatile values come from one seeded random stream."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.tokens = 0
        self.clock = 1_700_000_000 + self.rng.randrange(10_000_000)

    def token(self, shape: str) -> str:
        self.tokens += 1
        return f"<token#{self.tokens} {shape}>"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def headers(self, content_type: str = "application/json; charset=utf-8", **extra: str) -> dict:
        self.clock += self.rng.randrange(1, 5)
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(self.clock))
        headers = {
            "Content-Type": [content_type],
            "Date": [date],
            "X-Request-Id": [self.uuid()],
            "Strict-Transport-Security": ["max-age=31536000; includeSubDomains"],
            "Cache-Control": ["no-cache, no-store"],
            "Pragma": ["no-cache"],
            "Content-Length": [str(self.rng.randrange(80, 900))],
        }
        headers.update({name: [value] for name, value in extra.items()})
        return headers

    def interaction(self, vendor: str, index: int) -> tuple[Request, dict]:
        """One request/response pair; ``index`` picks the endpoint so both recordings make the same calls."""
        kind = index % 4
        if vendor == "autodesk":
            if kind == 3:
                return self._response(
                    "POST",
                    "https://developer.api.autodesk.com/authentication/v1/authenticate",
                    "client_id=<secret len=32>&client_secret=<secret len=16>&grant_type=bad",
                    400,
                    {
                        "developerMessage": "The grant_type must be client_credentials.",
                        "errorCode": "AUTH-008",
                        "more info": "https://aps.autodesk.com/en/docs",
                    },
                )
            version = "v1/authenticate" if kind == 0 else "v2/token"
            return self._response(
                "POST",
                f"https://developer.api.autodesk.com/authentication/{version}",
                "grant_type=client_credentials&scope=data%3Aread",
                200,
                {
                    "access_token": self.token(f"jwt RS256 kid=k{self.rng.randrange(9)} {JWT_CLAIMS}"),
                    "token_type": "Bearer",
                    "expires_in": self.rng.choice((1799, 3599, 3598)),
                },
            )
        if vendor == "bimplus":
            if kind == 0:
                return self._response(
                    "POST",
                    "https://api-stage.bimplus.net/v2/authorize",
                    json.dumps(
                        {"user_id": "<opaque len=18>", "password": "<secret len=12>", "application_id": self.uuid()}
                    ),
                    200,
                    {
                        "access_token": self.token("hex32"),
                        "client_id": self.uuid(),
                        "expires_in": 7199 - self.rng.randrange(3),
                        "token_type": "BimPlus",
                    },
                )
            if kind == 1:
                return self._response(
                    "GET",
                    "https://api-stage.bimplus.net/v2/authorize",
                    None,
                    200,
                    {"user_id": self.uuid(), "audience": self.uuid(), "expires_in": self.rng.randrange(1, 7200)},
                )
            if kind == 2:
                projects = [
                    {
                        "id": self.uuid(),
                        "name": f"Project {self.rng.randrange(99)}",
                        "createdAt": f"2024-0{self.rng.randrange(1, 9)}-1{self.rng.randrange(9)}T10:00:00Z",
                    }
                    for _ in range(self.rng.randrange(1, 4))
                ]
                return self._response(
                    "GET", f"https://api-stage.bimplus.net/v2/{self.uuid()}/projects", None, 200, projects
                )
            return self._response(
                "POST",
                "https://api-stage.bimplus.net/v2/cross-token",
                None,
                200,
                {"cross_token": self.token("hex32"), "expires_in": 299, "token_type": "BimPlus"},
            )
        if vendor == "axeobim":
            if kind == 3:
                return self._response(
                    "POST",
                    "https://app.axxone.fr/system_aplus/api/cerqual/authenticate_user",
                    "grant_type=cerqual&email=<opaque len=20>",
                    401,
                    {
                        "error": "invalid_request",
                        "error_description": "The access token expired",
                        "message": "The access token expired",
                        "hint": "re-authenticate",
                    },
                    www_authenticate='Bearer realm="api", error="invalid_token"',
                )
            form = "grant_type=client_credentials&client_id=<secret len=8>&client_secret=<secret len=8>"
            return self._response(
                "POST",
                "https://app.axxone.fr/system_aplus/api/oauth/authenticate",
                form,
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "access_token": self.token(f"jwt RS256 kid=ax {JWT_CLAIMS}"),
                    "refresh_token": self.token("opaque len=40"),
                },
            )
        if kind == 3:
            return self._response(
                "GET", "https://tokens.kudo.graebert.com/verify", None, 403, "Wrong token", content_type="text/plain"
            )
        parameters = json.dumps({"file": f"{self.uuid()}.dwg", "userId": self.uuid(), "server": "https://x"})
        return self._response(
            "POST",
            "https://tokens.kudo.graebert.com/generate",
            parameters,
            200,
            {"token": self.uuid(), "expiration_time": self.clock + 3600},
        )

    def _response(
        self,
        method: str,
        uri: str,
        body: str | None,
        status: int,
        payload,
        content_type: str = "application/json; charset=utf-8",
        www_authenticate: str | None = None,
    ) -> tuple[Request, dict]:
        request = Request(method, uri, body, {"Authorization": "<basic>", "User-Agent": "python-httpx/0.27.0"})
        text = payload if isinstance(payload, str) else json.dumps(payload)
        extra = {"WWW-Authenticate": www_authenticate} if www_authenticate else {}
        response = {
            "status": {"code": status, "message": "OK" if status == 200 else "Error"},
            "headers": self.headers(content_type, **extra),
            "body": {"string": text},
        }
        return request, response


def write_recording(root: Path, seed: int, interactions: int, cassettes: int) -> None:
    """Write ``cassettes`` cassettes holding ``interactions`` interactions in total under ``root``."""
    recorder = Recorder(seed)
    per_cassette, extra = divmod(interactions, cassettes)
    for number in range(cassettes):
        vendor = VENDORS[number % len(VENDORS)]
        pairs = [recorder.interaction(vendor, i) for i in range(per_cassette + (number < extra))]
        folder = root / vendor
        folder.mkdir(parents=True, exist_ok=True)
        cassette = {"requests": [p[0] for p in pairs], "responses": [p[1] for p in pairs]}
        (folder / f"test_scenario_{number:04d}.yaml").write_text(serialize(cassette, yamlserializer))


def naive_deepdiff(baseline: Path, current: Path) -> int:
    """Load every cassette with yaml.CSafeLoader and DeepDiff the two trees; return the number of changes."""

    def load(root: Path) -> dict:
        return {
            str(p.relative_to(root)): yaml.load(p.read_bytes(), Loader=yaml.CSafeLoader)
            for p in sorted(root.rglob("*.yaml"))
        }

    diff = DeepDiff(load(baseline), load(current))
    return sum(len(changes) for changes in diff.values())


def main() -> None:
    """Generate the two recordings, time both approaches and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactions", type=int, default=10_000)
    parser.add_argument("--cassettes", type=int, default=250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="authcanary-bench-") as tmp:
        baseline, current = Path(tmp) / "baseline", Path(tmp) / "current"
        started = time.perf_counter()
        write_recording(baseline, 1, args.interactions, args.cassettes)
        write_recording(current, 2, args.interactions, args.cassettes)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.yaml")) / 1e6
        print(
            f"generated 2 x {args.interactions} interactions in 2 x {args.cassettes} cassettes "
            f"({size:.1f} MB YAML) in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        result = compare(baseline, current)
        ours = time.perf_counter() - started
        our_findings = sum(len(v.findings) for v in result.vendors.values())

        started = time.perf_counter()
        serial_result = compare(baseline, current, workers=1)
        serial = time.perf_counter() - started
        serial_findings = sum(len(v.findings) for v in serial_result.vendors.values())

        started = time.perf_counter()
        naive_findings = naive_deepdiff(baseline, current)
        naive = time.perf_counter() - started

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{'engine':<36}{'wall time':>10}{'findings':>10}")
    print(f"{f'authcanary.drift.compare ({cpus} CPUs)':<36}{ours:>9.2f}s{our_findings:>10}")
    print(f"{'authcanary.drift.compare workers=1':<36}{serial:>9.2f}s{serial_findings:>10}")
    print(f"{'naive yaml.CSafeLoader + DeepDiff':<36}{naive:>9.2f}s{naive_findings:>10}")
    print(
        f"ratio (naive / ours): {naive / ours:.1f}x; target: ours < 2 s with 0 findings -> "
        f"{'OK' if ours < 2 and our_findings == 0 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
