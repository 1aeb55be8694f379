"""Planning assets: `night_plan` (per night), `job_spec` and `variants` (per night × job)."""

import dagster as dg

from nightrun_dagster.defs.assets.required import optional, required
from nightrun_dagster.defs.partitions import (
    job_partition,
    job_partitions,
    night_asset,
    night_job_asset,
)
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.defs.tags import MODE_TAG
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import ArmMismatch, expand_job
from nightrun_dagster.intake.queue import find_job, read_queue
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.learning.bandit import ArmStats, BanditConfig, arm_evidence
from nightrun_dagster.night.window import WARMUP, at, mode_for_night
from nightrun_dagster.plan.cost_model import CostModel
from nightrun_dagster.plan.cost_samples import learn_costs
from nightrun_dagster.plan.inputs import load_snapshot, snapshot_inputs
from nightrun_dagster.plan.job_costs import job_costs
from nightrun_dagster.plan.night_plan import job_arm_budgets, plan_night
from nightrun_dagster.plan.variants import write_variants
from nightrun_dagster.store.cost_docs import write_cost_model
from nightrun_dagster.store.night_plan import NightPlan, read_night_plan, write_night_plan
from nightrun_dagster.store.night_records import WarmupReport, read_warmup
from nightrun_dagster.store.paths import Tree

GROUP = "planning"
PREVIEW_ROWS = 20
BANDIT = BanditConfig()


def run_mode(context: dg.AssetExecutionContext, night: str) -> RunMode:
    """The weekday's mode, unless the run carries a `nightrun/mode` tag."""
    tagged = context.run.tags.get(MODE_TAG)
    if tagged is None:
        return mode_for_night(night)
    try:
        return RunMode(tagged)
    except ValueError:
        allowed = ", ".join(m.value for m in RunMode)
        raise dg.Failure(f"run tag {MODE_TAG}={tagged!r} is not a run mode ({allowed})") from None


def active_jobs(
    context: dg.AssetExecutionContext, nightrun: NightrunResource
) -> tuple[list[ValidJob], list[str]]:
    """The night's jobs: `job` partitions with a valid queue file (by key), and the partitions
    whose file is gone or invalid."""
    partitions = set(context.instance.get_dynamic_partitions(job_partitions.name))
    queued = read_queue(nightrun.tree(), nightrun.intake())
    jobs = [found for key, found in sorted(queued.items()) if key in partitions]
    return jobs, sorted(partitions - set(queued))


# warm_up by its key: warm_up's module imports this one.
@night_asset(GROUP, deps=[dg.AssetKey("warm_up")], kinds={"json"})
def night_plan(
    context: dg.AssetExecutionContext, nightrun: NightrunResource
) -> dg.MaterializeResult:
    """The night's plan: the run mode (Mon–Thu exploration, Fri/Sat exploitation, Sun
    maintenance, or the run's `nightrun/mode` tag), the active jobs (job partitions with a valid
    file in the queue) and each job's render budget, shared by priority within the nightly
    maximum, then split over the job's arms (template × prompt family × LoRA set) by Thompson
    sampling on past nights' approvals (exploration 80 % with no evidence, never under 20 %).
    Jobs the warm-up found blocked get no budget. Written to `runs/<night>/night_plan.json`."""
    night = context.partition_key
    mode = run_mode(context, night)
    tree = nightrun.tree()
    jobs, missing = active_jobs(context, nightrun)
    evidence = past_evidence(tree, night, jobs)
    warmup = warmup_found(tree, night)
    keys = {j.key for j in jobs}
    blocked = {k: v for k, v in (warmup.blocked if warmup else {}).items() if k in keys}
    basis = nightrun.basis()
    # What a render of each job costs, learnt from the past nights (written for `nightrun cost`).
    costs_doc = learn_costs(tree, nightrun.intake(), before_night=night)
    costs_path = write_cost_model(tree, costs_doc)
    endpoints = warmup_endpoints(warmup)
    costs = job_costs(jobs, mode, night, CostModel(costs_doc), endpoints)
    # The plan itself: budgets in GPU time (or counts) by priority, then each job's arms.
    plan = plan_night(
        night,
        mode,
        jobs,
        nightrun.max_renders_per_night,
        blocked=blocked,
        evidence=evidence,
        costs=costs,
        basis=basis,
        endpoints=max(len(endpoints), 1),
    )
    plan["warmup"] = "ran" if warmup else "not run (no runs/<night>/warmup.json)"
    plan["cost_model"] = f"{costs_path} (fitted {costs_doc.fitted_at})"
    path = write_night_plan(tree.night_dir(night), NightPlan.model_validate(plan))
    if missing:
        context.log.warning(f"job partitions without a valid queue file, skipped: {missing}")
    context.log.info(
        f"night {night}: {mode.value}, {len(jobs)} jobs, {plan['total_budget']} renders planned"
        f" ({basis.value} plan, expected GPU utilization {plan['expected_utilization']:.0%}"
        + (f", GPU free from {plan['gpu_free_at']}" if plan.get("gpu_free_at") else "")
        + ")"
    )
    return dg.MaterializeResult(
        metadata={
            "mode": mode.value,
            "jobs": len(jobs),
            "total_budget": plan["total_budget"],
            "total_demand": plan["total_demand"],
            "max_renders": plan["max_renders"],
            "basis": plan["basis"],
            "expected_utilization": plan["expected_utilization"],
            "gpu_free_at": plan.get("gpu_free_at") or "–",
            "planned_gpu_s": plan["planned_seconds"],
            "path": dg.MetadataValue.path(str(path)),
            "blocked": ", ".join(sorted(blocked)) or "none",
            "budgets": dg.MetadataValue.md(_budget_table(plan)),
            "arms": dg.MetadataValue.md(arm_table(plan)),
        }
    )


def warmup_endpoints(warmup: WarmupReport | None) -> list[str]:
    """The ComfyUI endpoints the warm-up reached (each is priced at its own speed); none
    without a warm-up, when the plan prices one GPU."""
    if warmup is None:
        return []
    return [str(s["endpoint"]) for s in warmup.servers if s.get("reachable") and s.get("endpoint")]


def warmup_found(tree: Tree, night: str) -> WarmupReport | None:
    """What the warm-up found (`runs/<night>/warmup.json`), or None when it did not run."""
    return optional(lambda: read_warmup(tree.night_dir(night)), "warm_up")


def past_evidence(tree: Tree, night: str, jobs: list[ValidJob]) -> dict[str, dict[str, ArmStats]]:
    """Each job's arm evidence: its product's reviewed picks of the last nights, counting only
    decisions made before this night's warm-up (a re-plan later in the night sees the same)."""
    cutoff = at(night, WARMUP)
    return {
        j.key: arm_evidence(
            tree.root / "runs",
            night,
            BANDIT.lookback_nights,
            product=j.job.product.sku,
            as_of=cutoff,
        )
        for j in jobs
    }


@night_job_asset(GROUP, deps=[night_plan], kinds={"json"})
def job_spec(context: dg.AssetExecutionContext, nightrun: NightrunResource) -> dg.MaterializeResult:
    """The job's validated snapshot for the night: the queue file's bytes as `inputs/job.json`
    and every referenced asset copied under `inputs/assets/`, listed with SHA-256 in
    `inputs/manifest.json`."""
    _, key, job_dir = job_partition(context, nightrun)
    intake = nightrun.intake()
    try:
        found = find_job(nightrun.tree(), intake, key)
    except KeyError as exc:
        raise dg.Failure(str(exc.args[0])) from None
    manifest = snapshot_inputs(found, intake.assets_root, job_dir)
    return dg.MaterializeResult(
        metadata={
            "job_id": found.job.job_id,
            "source": found.source.name,
            "sha256": found.sha256,
            "template": f"{found.template.template_id} {found.template.version}",
            "priority": found.job.priority,
            "objective": found.job.goal.objective,
            "placements": ", ".join(f"{p.platform}/{p.format}" for p in found.job.platforms),
            "assets": len(manifest["assets"]),
            "path": dg.MetadataValue.path(str(job_dir.inputs)),
        },
        data_version=dg.DataVersion(found.sha256[:16]),
    )


@night_job_asset(GROUP, deps=[job_spec, night_plan], kinds={"json"})
def variants(context: dg.AssetExecutionContext, nightrun: NightrunResource) -> dg.MaterializeResult:
    """The job's variants for the night: the capped cartesian product of its sweep in the plan's
    run mode, down-selected deterministically when over the cap or the job's budget. One
    `variants/vNNNN/meta/params.json` each, plus `variants/index.json`."""
    night, key, job_dir = job_partition(context, nightrun)
    tree = nightrun.tree()
    plan_path = tree.night_plan(night)
    plan = required(
        lambda: read_night_plan(tree.night_dir(night)), plan_path, f"night_plan for {night}"
    )
    entry = plan.job(key)
    if entry is None:
        raise dg.Failure(
            f"job {key!r} is not in the night plan of {night} ({plan_path}); "
            "materialize night_plan again to include it"
        )
    if not job_dir.job_snapshot.is_file():
        raise dg.Failure(f"{job_dir.job_snapshot} is missing: materialize job_spec first")
    found = load_snapshot(job_dir, nightrun.intake())
    budget = entry.budget
    mode = RunMode(plan.mode)
    cap = min(found.cap, budget)
    arm_budgets = job_arm_budgets(plan.model_dump(mode="json"), key)
    more = {
        "extra": min(entry.extra, max(found.cap - cap, 0)),
        "reserve": min(entry.reserve, max(entry.demand - cap, 0)),
    }
    try:
        expansion = expand_job(
            found.job, mode, night, cap, found.template.defaults, arm_budgets=arm_budgets, **more
        )
    except ArmMismatch as exc:
        # The job file changed after the plan: its arms are new, so no split applies.
        context.log.warning(f"{key} {night}: {exc}; plan night_plan again to budget its arms")
        expansion = expand_job(found.job, mode, night, cap, found.template.defaults, **more)
    report = write_variants(found, expansion, job_dir)
    context.log.info(
        f"{key} {night}: {len(expansion.variants)} variants ({mode.value}, cap {cap}, "
        f"sweep {expansion.sweep_size}, {expansion.extra} exploration extras on new seeds, "
        f"{expansion.reserve} in reserve for spare time); {report.written} written, "
        f"{report.unchanged} unchanged"
    )
    return dg.MaterializeResult(
        metadata={
            "count": len(expansion.variants),
            "cap": cap,
            "job_cap": found.cap,
            "budget": budget,
            "extra": expansion.extra,
            "reserve": expansion.reserve,
            "mode": mode.value,
            "sweep_size": expansion.sweep_size,
            "selection": expansion.selection,
            "arm_budgets": dg.MetadataValue.json(dict(expansion.arm_budgets or ())),
            "written": report.written,
            "unchanged": report.unchanged,
            "path": dg.MetadataValue.path(str(job_dir.variants)),
            "preview": dg.MetadataValue.md(preview_table(expansion.variants[:PREVIEW_ROWS])),
        }
    )


def preview_table(rows: tuple) -> str:
    head = "| id | prompt | seed | LoRAs | sampler | steps | cfg | denoise | ControlNet |"
    lines = [head, "|" + "---|" * 9]
    for v in rows:
        loras = ", ".join(f"{a.name}@{a.weight:g}" for a in v.loras if a.enabled) or "–"
        cn = f"{v.controlnet.type}@{v.controlnet.weight:g}" if v.controlnet else "–"
        prompt = v.prompt if len(v.prompt) <= 40 else v.prompt[:39] + "…"
        lines.append(
            f"| {v.variant_id} | {prompt.replace('|', '/')} | {v.seed} | {loras} | {v.sampler} "
            f"| {v.steps} | {v.cfg} | {v.denoise} | {cn} |"
        )
    return "\n".join(lines)


def _budget_table(plan: dict) -> str:
    lines = [
        "| job | priority | template | sweep | demand | budget | extra | s/render | cost from "
        "| GPU s | expected finish |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for j in plan["jobs"]:
        per = j.get("seconds_per_render")
        lines.append(
            f"| {j['key']} | {j['priority']} | {j['template_id']} | {j['sweep_size']} "
            f"| {j['demand']} | {j['budget']} | {j.get('extra', 0)} "
            f"| {per if per is not None else '–'} | {j.get('cost_source') or '–'} "
            f"| {j.get('est_seconds') or 0:.0f} | {j.get('expected_finish') or '–'} |"
        )
    return "\n".join(lines)


def arm_table(plan: dict) -> str:
    """Every job's arms: exploration share, split, past evidence (markdown)."""
    lines = [
        "| job | exploration | arm | share | budget | shown | approved |",
        "|---|---|---|---|---|---|---|",
    ]
    for j in plan["jobs"]:
        for a in j.get("arms") or []:
            lines.append(
                f"| {j['key']} | {j['exploration_share']:.0%} | {a['label']} | {a['share']:.1%} "
                f"| {a['budget']} | {a['shown']} | {a['approved']} |"
            )
    return "\n".join(lines)
