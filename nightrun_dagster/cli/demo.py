"""`nightrun demo`: a whole night for the example jobs, on the emulator and Dagster's SQLite."""

import argparse
import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from nightrun_dagster.ops.night import parse_night, tonight, window

QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "job_specs"
SCHEMA_FILE = "creative_job.schema.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root", type=Path, help="artifact root (default $NIGHTRUN_ROOT or ./marketing/night-runs)"
    )
    p.add_argument(
        "--home",
        type=Path,
        help="DAGSTER_HOME for the demo's instance (default <root>/dagster_home, SQLite)",
    )
    p.add_argument("--night", help="night as YYYY-MM-DD (default: tonight)")
    p.add_argument("--jobs", type=Path, default=EXAMPLES, help="folder of job files to queue")
    p.add_argument(
        "--comfy-url",
        help="render on this ComfyUI server instead of the emulator the demo starts",
    )
    p.add_argument(
        "--max-renders", type=int, default=None, help="renders for the whole night (default 2000)"
    )
    p.add_argument("--render-ms", type=int, default=10, help="emulated render time per prompt")


def stage_examples(jobs_dir: Path, root: Path) -> list[Path]:
    """Copy the example jobs into the queue and their assets into assets/ (same bytes)."""
    queue, assets = root / "queue", root / "assets"
    queue.mkdir(parents=True, exist_ok=True)
    assets.mkdir(parents=True, exist_ok=True)
    staged = []
    for src in sorted(jobs_dir.glob("*.json")):
        if src.name == SCHEMA_FILE:
            continue
        dst = queue / src.name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)
        staged.append(dst)
    if (jobs_dir / "assets").is_dir():
        shutil.copytree(jobs_dir / "assets", assets, dirs_exist_ok=True)
    return staged


def demo_command(args: argparse.Namespace) -> int:
    from nightrun_dagster.store.paths import default_root

    root = (args.root or default_root()).resolve()
    home = (args.home or root / "dagster_home").resolve()
    night = args.night or tonight()
    parse_night(night)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["NIGHTRUN_ROOT"] = str(root)

    print(f"[demo] artifact root  {root}")
    print(f"[demo] DAGSTER_HOME   {home} (SQLite)")
    staged = stage_examples(args.jobs, root)
    print(f"[demo] queued {len(staged)} example jobs in {root / 'queue'}")

    with comfyui_for_demo(args, root) as url:
        print(f"[demo] ComfyUI        {url}")
        summary = run_night(root, night, url, args.max_renders)
    print(f"[demo] night {night}, mode {summary['mode']}")
    for key, count in summary["variants"].items():
        r = summary["renders"].get(key, {})
        print(
            f"[demo]   {key}: {count} variants, {r.get('rendered', 0)} rendered, "
            f"{r.get('failed', 0)} failed, {r.get('shortlisted', 0)} shortlisted, "
            f"{r.get('packages', 0)} packaged "
            f"-> {root / 'runs' / night / ('job_' + key)}"
        )
    print(f"[demo] contact sheet  {summary['contact_sheet']}")
    for name in summary["rejected"]:
        print(f"[demo]   rejected {name}: see {root / 'queue' / 'rejected'}")
    print(f"[demo] browse it: DAGSTER_HOME={home} NIGHTRUN_ROOT={root} dagster dev")
    return 0


@contextlib.contextmanager
def comfyui_for_demo(args: argparse.Namespace, root: Path) -> Iterator[str]:
    """The given ComfyUI URL, or an emulator on loopback for the length of the demo."""
    if args.comfy_url:
        yield args.comfy_url
        return
    from nightrun_dagster.comfy.emulator import EmulatorConfig, EmulatorServer

    sim = root / "comfy-sim"
    config = EmulatorConfig(
        render_ms=args.render_ms,
        output_dir=sim / "output",
        input_dir=sim / "input",
        temp_dir=sim / "temp",
    )
    with EmulatorServer(config).start() as server:
        yield server.url


def run_night(root: Path, night: str, comfy_url: str, max_renders: int | None) -> dict:
    """Queue sensor tick, night_plan, then job_spec + variants + renders for every job."""
    import dagster as dg  # here, not at the top: `nightrun validate` should start fast

    from nightrun_dagster.cli.approve import approve_quietly
    from nightrun_dagster.definitions import build_defs
    from nightrun_dagster.defs.assets.approval import approvals, publish_packages
    from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
    from nightrun_dagster.defs.assets.rendering import renders
    from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
    from nightrun_dagster.defs.breakers import BreakersResource
    from nightrun_dagster.defs.partitions import job_partitions, night_job_key
    from nightrun_dagster.defs.resources import (
        ComfyUIResource,
        NightrunResource,
        TelegramResource,
    )
    from nightrun_dagster.defs.sensors import job_queue_sensor

    defs = build_defs(root, comfy_url)
    settings: dict[str, Any] = {"queue_settle_seconds": 0}
    if max_renders is not None:
        settings["max_renders_per_night"] = max_renders
    resources = {
        "nightrun": NightrunResource(root=str(root), **settings),
        "comfyui": ComfyUIResource(urls=comfy_url),
        "breakers": BreakersResource(),
        "telegram": TelegramResource(),  # off: the demo approves from the command line
    }
    instance = dg.DagsterInstance.get()
    with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as ctx:
        result = job_queue_sensor(ctx)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(job_partitions.name, list(request.partition_keys))
    rejected = sorted(
        p.name
        for p in (root / "queue" / "rejected").glob("*.json")
        if not p.name.endswith(".error.json")
    )
    keys = sorted(instance.get_dynamic_partitions(job_partitions.name))

    # Tonight's partition only exists once 23:00 has passed; plan it from its own start so the
    # demo works at any hour, as the schedule would at 23:00.
    start, _ = window(night)

    def run(assets: list[Any], partition_key: Any) -> dict[str, dict[str, Any]]:
        """Materialize `assets` for one partition; each asset's metadata values by name."""
        result = dg.materialize(
            assets,
            instance=instance,
            partition_key=partition_key,
            resources=resources,
            run_config=QUIET,
        )
        names = [a.key.to_user_string() for a in assets]
        return {
            n: {
                k: v.value for k, v in result.asset_materializations_for_node(n)[0].metadata.items()
            }
            for n in names
        }

    counts, rendered = {}, {}
    with dg.partition_loading_context(effective_dt=start + timedelta(minutes=1)):
        mode = run([night_plan], night)["night_plan"]["mode"]
        for key in keys:
            pk = night_job_key(night, key)
            res = run([job_spec, variants, renders, scores, shortlist], pk)
            counts[key] = res["variants"]["count"]
            rendered[key] = {k: res["renders"][k] for k in ("rendered", "already_done", "failed")}
            rendered[key]["shortlisted"] = res["shortlist"]["picks"]
            # A person would tap ✅ on Telegram; the demo approves the top pick as `nightrun
            # approve` does, then folds the ledger and builds the publish package.
            selection = root / "runs" / night / f"job_{key}" / "selection"
            short = json.loads((selection / "shortlisted.json").read_bytes())
            if short["picks"]:
                approve_quietly(root, night, key, short["picks"][0]["variant_id"], by="demo")
            done = run([approvals, publish_packages], pk)
            rendered[key]["packages"] = done["publish_packages"]["packages"]
        sheet = run([night_summary], night)["night_summary"]["contact_sheet"]
    return {
        "mode": mode,
        "variants": counts,
        "renders": rendered,
        "rejected": rejected,
        "contact_sheet": sheet,
    }
