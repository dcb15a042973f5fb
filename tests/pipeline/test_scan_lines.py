"""Which of the logs scan's lines go into the bundle: what is new or risen, redacted."""

from __future__ import annotations

from pathlib import Path

from connectors.elastic import ErrorLine, ErrorScan
from connectors.records import ErrorCountSeries
from investigators.catalog import load_catalog
from investigators.pipeline.sources import representative_lines

CATALOG = """
teams:
  web: {}
services:
  - name: checkout
    team: web
    depends_on: [ledger, maps-provider]
  - name: ledger
    team: web
  - name: maps-provider
    team: web
    kind: external
"""
START, OPENED, END = 0.0, 3600.0, 4800.0  # an hour before the window, 20 minutes in it


def test_only_lines_new_or_risen_in_the_window_are_kept_redacted(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    times = [float(t) for t in range(0, 4800, 60)]
    # 2 error lines a minute all along: the everyday timeout goes on at the same rate.
    counts = ErrorCountSeries(service="checkout", times=times, counts=[2] * 80, url="")

    def line(at: float, message: str) -> ErrorLine:
        return ErrorLine(service="checkout", at=at, level="error", message=message)

    everyday = [
        line(at, f"timeout calling ledger after {at:.0f}ms") for at in range(3000, 3600, 60)
    ]
    during = [
        *(line(at, f"timeout calling ledger after {at:.0f}ms") for at in range(3600, 4800, 240)),
        *(
            line(at, "maps-provider: 503, token=ghp_abcdefghijklmnopqrstuvwxyz0123456789")
            for at in (4700.0, 4750.0)
        ),
    ]
    scan = ErrorScan(counts={"checkout": counts}, lines={"checkout": [*during, *everyday]})
    kept = representative_lines(scan, load_catalog(path), window=(START, OPENED, END))
    assert [(k.service, k.at, k.message) for k in kept] == [
        ("checkout", 4750.0, "maps-provider: 503, token=[redacted: github-token]")
    ]
