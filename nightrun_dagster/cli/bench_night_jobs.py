"""The job files `nightrun bench night` queues: the history nights' small jobs, and per case a
demand far above, about equal to or far below a 3080's night, written as marketing writes them."""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "job_specs"


class Case(StrEnum):
    over = "over"  # demand far above the window's capacity
    equal = "equal"  # demand about what a 3080 renders in the window
    under = "under"  # demand far below: the plan says when the GPU is free


class Template(StrEnum):
    static = "static_sdxl_ad.json"  # static_ad_v1: SDXL, ~25 s a render on a 3080
    ui = "ui_anchored_ad.json"  # ui_anchored_v1: ControlNet, ~35 s
    video = "video_teaser.json"  # wan21_teaser_v1: ~240 s a clip


@dataclass(frozen=True)
class JobWant:
    """One job of a case: which example it is written from, its priority and how many variants
    it asks for (`generation.max_variants`; deep search when above the default cap)."""

    job_id: str
    template: Template
    priority: int
    variants: int
    headline: str
    # Leave `max_variants` at the default cap, above the sweep: in exploration the plan may
    # give the job's spare time to more seeds (a job that sets its cap to its sweep says no).
    explore: bool = False


# A 3080's window (23:00–08:00): images 7 h around the 01:00–03:00 video slice (≈1,000 SDXL
# renders or ≈720 UI-anchored), video 2 h (30 clips). The margins the plan keeps are not counted.
CASES: dict[Case, tuple[JobWant, ...]] = {
    Case.over: (
        JobWant("verde-hot-sale-2026-03", Template.static, 80, 1500, "Hot Sale: 3x2 en Verde"),
        JobWant("mitienda-app-launch-2026-03", Template.ui, 60, 600, "Tu yerba en 2 toques"),
        JobWant("verde-otono-2026-03", Template.static, 40, 800, "Llegó el otoño, llegó el mate"),
        JobWant("verde-teaser-2026-03", Template.video, 50, 60, "El mate de siempre"),
    ),
    Case.equal: (
        JobWant("verde-hot-sale-2026-03", Template.static, 70, 480, "Hot Sale: 3x2 en Verde"),
        JobWant("mitienda-app-launch-2026-03", Template.ui, 50, 330, "Tu yerba en 2 toques"),
        JobWant("verde-teaser-2026-03", Template.video, 50, 28, "El mate de siempre"),
    ),
    Case.under: (
        JobWant("verde-hot-sale-2026-03", Template.static, 70, 80, "Hot Sale: 3x2 en Verde", True),
        JobWant("mitienda-app-launch-2026-03", Template.ui, 50, 40, "Tu yerba en 2 toques", True),
        JobWant("verde-teaser-2026-03", Template.video, 50, 4, "El mate de siempre", True),
    ),
}

# Each history night renders a few of every template, so the cost model has measured costs.
HISTORY: tuple[JobWant, ...] = (
    JobWant("verde-historial-estatico", Template.static, 50, 36, "El mate de siempre, 2x1"),
    JobWant("mitienda-historial-ui", Template.ui, 50, 24, "Pedila en MiTienda"),
    JobWant("verde-historial-teaser", Template.video, 50, 4, "Verde, siempre"),
)


def _seeds_for(spec: dict[str, Any], variants: int) -> int:
    """Seeds enough that the sweep holds `variants` (the other axes multiply)."""
    axes = spec["generation"]["variants"]
    others = 1
    for name in ("prompt_variants", "samplers", "steps", "cfg", "denoise"):
        others *= max(1, len(axes.get(name) or []))
    for lora in axes.get("loras") or []:
        others *= len(lora.get("weights") or [1]) + (1 if lora.get("on_off") else 0)
    for net in axes.get("controlnet") or []:
        others *= max(1, len(net.get("weights") or [1]))
    return max(1, -(-variants // others))


def job_document(want: JobWant, created_at: str) -> dict[str, Any]:
    """The example job of the template, re-written for `want`."""
    spec = copy.deepcopy(json.loads((EXAMPLES / want.template.value).read_text(encoding="utf-8")))
    spec["job_id"] = want.job_id
    spec["created_at"] = created_at
    spec["priority"] = want.priority
    spec["copy"]["headline"] = want.headline
    generation = spec["generation"]
    seeds = generation.setdefault("seed_strategy", {"mode": "random"})
    seeds["count"] = _seeds_for(spec, want.variants)
    if not want.explore:
        generation["max_variants"] = want.variants
        generation["deep_search"] = True
    return spec


def stage_jobs(root: Path, wants: tuple[JobWant, ...], night: str) -> list[Path]:
    """An empty queue with the night's job files (settled: dated a minute back), and the
    examples' assets."""
    queue = root / "queue"
    if queue.exists():
        shutil.rmtree(queue)
    queue.mkdir(parents=True)
    shutil.copytree(EXAMPLES / "assets", root / "assets", dirs_exist_ok=True)
    written = []
    settled = time.time() - 60
    for want in wants:
        path = queue / f"{want.job_id}.json"
        path.write_text(json.dumps(job_document(want, f"{night}T18:00:00-03:00"), indent=1))
        os.utime(path, (settled, settled))
        written.append(path)
    return written
