"""Report writers: ``report.html`` (self-contained) and ``report.md`` from a run's summary.

    from authcanary.reporting import write_reports
    paths = write_reports(run_dir, summary)   # [run_dir/"report.html", run_dir/"report.md"]

``summary`` follows the ``authcanary.summary/1`` schema (see docs/interfaces.md). Optional extras rendered when
present: a top-level ``notes`` list and ``error`` string, and per vendor a ``notes`` list and an ``error``
string (for example the cause of an unreachable vendor).
"""

from __future__ import annotations

from .render import SCHEMA, build_context, render_html, render_markdown, write_reports

__all__ = ["SCHEMA", "build_context", "render_html", "render_markdown", "write_reports"]
