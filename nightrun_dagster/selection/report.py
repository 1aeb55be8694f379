"""A job's scores as a table and a distribution plot, for people reading the run."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

# The object API renders with Agg without pyplot's global state: safe in a server process.
from matplotlib.figure import Figure

from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variant_docs import try_read_score

COMPONENTS = ("sharpness", "text", "brand_color", "ui_integrity", "artifacts", "temporal")


def scores_frame(job_dir: JobDir, variant_ids: list[str]) -> pd.DataFrame:
    """One row per scored variant (best output): total and every component score."""
    rows = []
    for vid in variant_ids:
        doc = try_read_score(job_dir.variant_dir(vid))
        best = doc.best_output() if doc else None
        if best is None:
            continue
        row: dict[str, object] = {"variant_id": vid, "file": best.file, "total": best.total}
        for name in COMPONENTS:
            comp = (best.components or {}).get(name)
            row[name] = comp.get("score") if isinstance(comp, dict) else None
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["variant_id", "file", "total", *COMPONENTS])
    return frame.sort_values(["total", "variant_id"], ascending=[False, True], ignore_index=True)


def distribution_png(frame: pd.DataFrame, title: str) -> bytes:
    """Histogram of totals beside a box plot per component."""
    fig = Figure(figsize=(10, 3.6), dpi=100)
    hist, box = fig.subplots(1, 2)
    totals = frame["total"].dropna()
    hist.hist(totals, bins=20, range=(0, 1), color="#146E46")
    hist.set_title(f"{title}: total score ({len(totals)} renders)")
    hist.set_xlabel("total")
    hist.set_ylabel("renders")
    present = [c for c in COMPONENTS if c in frame and frame[c].notna().any()]
    if present:
        box.boxplot([frame[c].dropna() for c in present], tick_labels=present)
    else:  # nothing rendered (a breaker latched before the first submit): an empty chart
        box.text(0.5, 0.5, "nothing scored", ha="center", va="center", transform=box.transAxes)
    box.set_ylim(0, 1)
    box.set_title("components")
    box.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
