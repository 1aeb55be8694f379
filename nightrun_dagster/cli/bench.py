"""`nightrun bench …`: speed figures as a table, or one JSON object with `--json`."""

import argparse
import json
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from nightrun_dagster.creative_job.limits import SpecLimits
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.validate import Intake, ValidJob, validate_file
from nightrun_dagster.plan.variants import write_variants
from nightrun_dagster.store.paths import Tree


def _cpu_model() -> str:
    # platform.processor() is empty or just "x86_64" on Linux; the model name says what ran.
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    import os

    return {
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "system": platform.platform(),
    }


def bench_job(variants: int) -> dict[str, object]:
    """A job whose sweep is several times `variants`, so the cap and down-selection both work."""
    seeds = max(10, variants // 40)
    return {
        "job_id": "bench-large-sweep",
        "created_at": "2026-02-09T20:00:00-03:00",
        "priority": 50,
        "product": {"sku": "B-1", "name": "Bench Bottle", "brand": "Bench"},
        "goal": {"objective": "sales"},
        "platforms": [{"platform": "instagram", "format": "feed_4x5"}],
        "assets": {"product_images": ["product.png"]},
        "copy": {"headline": "Bench", "subheadline": "Speed"},
        "generation": {
            "workflow": {"template_id": "static_ad_v1", "workflow_path": "static_ad_v1.json"},
            "seed_strategy": {"mode": "random", "count": seeds},
            "variants": {
                "prompt_variants": [f"prompt {i}" for i in range(min(8, variants))],
                "loras": [{"name": "brand", "path": "brand.safetensors"}],
                "samplers": ["dpmpp_2m_karras", "euler"],
                "steps": [20, 28],
                "cfg": [4.5, 6.0],
            },
            "deep_search": True,
            "max_variants": variants,
        },
    }


def bench_workspace(work: Path, variants: int) -> tuple[Tree, ValidJob]:
    """A fresh artifact tree under `work` and the validated bench job, allowed `variants`."""
    tree = Tree(work / "root")
    tree.assets.mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(tree.assets / "product.png")
    job_file = work / "job.json"
    job_file.write_text(json.dumps(bench_job(variants)))
    limits = SpecLimits(deep_search_ceiling=max(variants, SpecLimits.deep_search_ceiling))
    return tree, validate_file(job_file, Intake(assets_root=tree.assets, limits=limits))


def run_expand_once(variants: int, work: Path) -> dict[str, float | int]:
    t0 = time.perf_counter()
    tree, found = bench_workspace(work, variants)
    t1 = time.perf_counter()
    expansion = expand_job(
        found.job, RunMode.exploration, "2026-02-09", found.cap, found.template.defaults
    )
    t2 = time.perf_counter()
    job_dir = tree.job("2026-02-09", found.key)
    first = write_variants(found, expansion, job_dir)
    t3 = time.perf_counter()
    again = write_variants(found, expansion, job_dir)
    t4 = time.perf_counter()
    files = sum(1 for _ in job_dir.variants.glob("v*/meta/params.json"))
    if first.written != len(expansion.variants) or again.unchanged != len(expansion.variants):
        raise RuntimeError("bench: the write counts do not match the expansion")
    return {
        "variants": len(expansion.variants),
        "sweep_size": expansion.sweep_size,
        "params_files": files,
        "validate_s": t1 - t0,
        "expand_s": t2 - t1,
        "write_s": t3 - t2,
        "total_s": t3 - t0,
        "rerun_unchanged_s": t4 - t3,
    }


def bench_expand_command(args: argparse.Namespace) -> int:
    runs = []
    for _ in range(max(1, args.repeat)):
        work = Path(tempfile.mkdtemp(prefix="nightrun-bench-", dir=args.dir))
        try:
            runs.append(run_expand_once(args.variants, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    best = min(runs, key=lambda r: r["total_s"])
    result = {
        "bench": "expand",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "runs": len(runs),
        "dir": str(Path(args.dir or tempfile.gettempdir()).resolve()),
        **best,
        "variants_per_s": best["variants"] / best["total_s"],
        "target_total_s": 1.0,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [
        ("folder", result["dir"]),
        ("variants", f"{best['variants']}"),
        ("sweep size", f"{best['sweep_size']}"),
        ("params.json files", f"{best['params_files']}"),
        ("set up + validate", f"{best['validate_s'] * 1000:.1f} ms"),
        ("expand", f"{best['expand_s'] * 1000:.1f} ms"),
        ("write params.json", f"{best['write_s'] * 1000:.1f} ms"),
        (f"total (best of {len(runs)})", f"{best['total_s'] * 1000:.1f} ms (target < 1000 ms)"),
        ("re-run, all unchanged", f"{best['rerun_unchanged_s'] * 1000:.1f} ms"),
        ("variants/s", f"{result['variants_per_s']:.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")
    return 0
