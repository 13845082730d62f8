"""report.html and the vendor report as a real browser renders them: headless Chromium (Debian's `chromium`) loads
the files of a real run and its DOM, after parsing and after the report's own script ran, is checked: the verdict
banner, the counts, a finding's curl reproduction, its history state, the trend strip, and the vendor report's
finding, reproduction and environment without any other vendor. Skipped when no chromium binary is found.

A run takes a few seconds: two runs of the same target (the second sees the first in its history) are made once
for the module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conftest import run_authcanary

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
RUN = ["run", "--vendor", "kudo", "--profile", "token-reused"]
CHECK_ID = "kudo.generate.fresh_token"
OTHER_VENDORS = ("autodesk", "bimplus", "axeobim", "cerqual")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# -- a DOM tree from the browser's serialisation ---------------------------------------------------------------------
@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [
            el
            for el in self.iter()
            if (tag is None or el.tag == tag)
            and (cls is None or cls in el.classes)
            and all(el.attrs.get(key.rstrip("_")) == value for key, value in attrs.items())
        ]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'} class={cls!r} {attrs}> in the DOM"
        return found[0]

    def raw_text(self) -> str:
        """The text as it is (for <pre>), without that of scripts and styles."""
        return "".join(
            child if isinstance(child, str) else child.raw_text()
            for child in self.children
            if isinstance(child, str) or child.tag not in ("script", "style")
        )

    def text(self) -> str:
        return " ".join(self.raw_text().split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {key: value or "" for key, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {key: value or "" for key, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if any(el.tag == tag for el in self.stack[1:]):
            while self.stack.pop().tag != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# -- the browser -----------------------------------------------------------------------------------------------------
def find_browser() -> str | None:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def rendered_dom(browser: str, page: Path, profile: Path) -> Element:
    """`page` loaded by headless Chromium (no network: a self-contained report needs none), its DOM after load."""
    command = [
        browser,
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        "--dump-dom",
        page.as_uri(),
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium will not start its sandbox as root (containers, CI)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "<html" in completed.stdout, completed.stderr[-2000:]
    return parse(completed.stdout)


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None:
        pytest.skip("no chromium binary (Debian: apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def kudo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The run folder of the second of two runs of the token-reused profile (one history beside them)."""
    base = tmp_path_factory.mktemp("browser")
    first = run_authcanary(RUN, base / "first")
    assert first.code == 1, first.output
    second = run_authcanary(RUN, base / "run")
    assert second.code == 1 and second.summary is not None, second.output
    return base / "run", second.summary


def _totals(dom: Element) -> dict[str, str]:
    """The header's count tiles: label -> number."""
    return {
        li.find("span", "l").text(): li.find("span", "n").text()
        for ul in dom.find_all("ul", "totals")
        for li in ul.find_all("li")
    }


def test_the_run_report_as_a_browser_renders_it(browser, kudo_run, tmp_path):
    run_dir, summary = kudo_run
    kudo = summary["vendors"]["kudo"]
    [violation] = kudo["violations"]
    dom = rendered_dom(browser, run_dir / "report.html", tmp_path / "profile")

    assert dom.find("title").text() == "authcanary report: sim: Not compliant"
    banner = dom.find("div", "verdict", role="status")
    assert "bad" in banner.classes
    assert banner.find("strong").text() == "Not compliant"
    assert "1 failing contract violation found (kudo)." in banner.text()
    assert banner.find("span", "exit").text() == "exit code 1"

    totals = _totals(dom)
    assert totals["vendors"] == str(len(summary["vendors"]))
    assert totals["violations"] == "1"
    assert totals["requests"] == str(sum(v["requests"] for v in summary["vendors"].values()))
    checks = kudo["checks"]
    assert (
        totals["checks passed / failed / skipped"] == f"{checks['passed']} / {checks['failed']} / {checks['skipped']}"
    )
    assert totals["new"] == "0" and totals["open"] == "1" and totals["resolved since the previous run"] == "0"

    section = dom.find("section", id="vendor-4-kudo")
    assert section.find("h2").text() == "kudo"
    [finding] = section.find_all("article", "finding")
    assert "bad" in finding.classes
    assert finding.find("code", "check-id").text() == CHECK_ID
    repro = finding.find("div", "repro")
    assert repro.find("pre").raw_text() == violation["repro"]  # the command exactly as recorded, unescaped
    assert "hidden" not in repro.find("button", "copy").attrs  # the report's script ran: the copy button shows

    # the history state: the second run of this target, first seen in the first
    assert violation["state"] == "open" and violation["runs_seen"] == 2
    state = finding.find("span", "state")
    assert state.classes == {"state", "open"}
    assert state.text() == f"open since {violation['first_seen'][:10]} (2 runs)"
    assert finding.find("details", "tests").find("summary").text() == f"seen by {len(violation['tests'])} tests"
    links = {a.text(): a.attrs["href"] for a in finding.find("dd", "source").find_all("a")}
    assert links == {"RFC 9562 §6.9": "https://www.rfc-editor.org/rfc/rfc9562#section-6.9"}
    declaration = finding.find("a", "declaration")
    assert declaration.attrs["href"] == violation["source_url"]
    assert declaration.text() == f"{violation['check_file']}:{violation['check_line']}"

    strip = dom.find("ol", "trend")
    cells = strip.find_all("li")
    assert [cell.classes for cell in cells] == [{"run", "bad"}, {"run", "bad", "current"}]
    assert all("exit 1 (Not compliant), 1 finding" in cell.attrs["title"] for cell in cells)
    assert cells[-1].find("span", "sr-only").text().startswith(summary["started"][:10])
    assert not dom.find_all(cls="history-error")

    # self-contained: nothing loaded from elsewhere, and every link is ours
    assert not dom.find_all("img") and not dom.find_all("link") and not dom.find_all("iframe")
    assert all("src" not in script.attrs for script in dom.find_all("script"))
    for anchor in dom.find_all("a"):
        assert anchor.attrs["href"].startswith(("#", "https://www.rfc-editor.org/rfc/", "file://")), anchor.attrs


def test_the_vendor_report_as_a_browser_renders_it(browser, kudo_run, tmp_path):
    run_dir, summary = kudo_run
    [violation] = summary["vendors"]["kudo"]["violations"]
    out = tmp_path / "vendor.html"
    result = run_authcanary(["report", "vendor", str(run_dir), "--vendor", "kudo"], out)
    assert result.code == 0, result.output
    assert out.is_file() and out.with_suffix(".md").is_file(), result.output
    dom = rendered_dom(browser, out, tmp_path / "profile")
    text = dom.text()

    assert CHECK_ID in text and violation["observed"] in text and violation["endpoint"] in text
    assert violation["repro"] in [pre.raw_text() for pre in dom.find_all("pre")]
    [environment] = [
        heading for heading in dom.iter() if heading.tag in ("h2", "h3") and heading.text() == "Environment"
    ]
    section = next(el for el in dom.iter() if environment in el.children)
    assert summary["target"] in section.text()
    assert summary["harness_version"] in section.text()
    # nothing of any other vendor, in the text or in an attribute
    serialised = " ".join([text, *(value for el in dom.iter() for value in el.attrs.values())]).lower()
    for other in OTHER_VENDORS:
        assert other not in serialised, other
