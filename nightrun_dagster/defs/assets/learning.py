"""Learning between nights: the weekly `recipe_library` (winning recipes and arm records)."""

from datetime import date, timedelta

import dagster as dg

from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.learning.recipes import (
    arm_table,
    build_library,
    library_dir,
    read_library,
    top_arms,
    write_library,
)
from nightrun_dagster.night.window import FIRST_NIGHT, TIMEZONE, WARMUP

GROUP = "learning"
TOP_ARMS = 10

# Weekly partitions rather than an unpartitioned asset: every week's library stays in the
# event log and under library/weeks/, and past weeks can be backfilled. A week is keyed by the
# Sunday that opens it and closes at the next Sunday's 22:45 warm-up, so the maintenance night
# builds the library of the six render nights just past, Saturday's late approvals included.
week_partitions = dg.WeeklyPartitionsDefinition(
    start_date=FIRST_NIGHT,
    day_offset=0,
    hour_offset=WARMUP.hour,
    minute_offset=WARMUP.minute,
    timezone=TIMEZONE,
)


def week_nights(week: str) -> tuple[str, str]:
    """(first, last) night of a week partition: its Sunday to the Saturday after."""
    start = date.fromisoformat(week)
    return start.isoformat(), (start + timedelta(days=6)).isoformat()


@dg.asset(
    group_name=GROUP,
    partitions_def=week_partitions,
    kinds={"json"},
)
def recipe_library(
    context: dg.AssetExecutionContext, nightrun: NightrunResource
) -> dg.MaterializeResult:
    """Per product, the recipes people approved (prompt, negative, template id, version and hash,
    LoRAs and weights, sampler, steps, cfg, denoise, seed), ranked by approvals then score, and
    each arm's (template × prompt family × LoRA set) approval record, over every reviewed night
    up to the week's Saturday. Written to `library/weeks/<week>/` and, when it is the newest
    week, to `library/recipes.json` and `library/recipes.md`."""
    week = context.partition_key
    _, until = week_nights(week)
    root = nightrun.tree().root
    library = build_library(root / "runs", until)
    folder = library_dir(root)
    path = write_library(folder / "weeks" / week, library)
    current = read_library(folder)
    # A backfill of an older week must not replace the newest library the planner reads.
    latest = current is None or str(current.get("until_night", "")) <= until
    if latest:
        write_library(folder, library)
    products = library["products"]
    recipes = sum(len(p["recipes"]) for p in products.values())
    context.log.info(
        f"week {week}: {len(products)} products, {recipes} recipes over "
        f"{len(library['reviewed_nights'])} reviewed nights"
    )
    return dg.MaterializeResult(
        metadata={
            "until_night": until,
            "products": len(products),
            "recipes": recipes,
            "approved": sum(p["approved"] for p in products.values()),
            "shown": sum(p["shown"] for p in products.values()),
            "reviewed_nights": len(library["reviewed_nights"]),
            "latest": latest,
            "top_arms": dg.MetadataValue.md(arm_table(top_arms(library, TOP_ARMS))),
            "path": dg.MetadataValue.path(str(path)),
        }
    )
