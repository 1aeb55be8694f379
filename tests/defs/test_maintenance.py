"""The `retention` asset: a dry run reports and changes nothing, a real run prunes and archives."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from nightrun_dagster.defs.assets.maintenance import retention
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.store.atomic import atomic_write_bytes, atomic_write_json
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.signing import artifact_id

SUNDAY = "2026-02-15"  # its morning, 2026-02-16, is "today": nights before 2026-02-09 are old
OLD, YOUNG, KEY = "2026-02-01", "2026-02-14", "alpha"
TOTALS = {"v0001": 0.9, "v0002": 0.2, "v0003": 0.1}


def build(tree: Tree) -> None:
    """Two nights of one job, three rendered and scored variants; v0003 approved."""
    for night in (OLD, YOUNG):
        job = tree.job(night, KEY)
        for vid, total in TOTALS.items():
            data = f"{night}/{vid}".encode() * 50
            atomic_write_bytes(job.out(vid) / "img_0001.png", data)
            output = {"file": "out/img_0001.png", "bytes": len(data), "kind": "image"}
            atomic_write_json(
                job.params(vid),
                {"variant_id": vid, "render": {"status": "ok", "outputs": [output]}},
            )
            atomic_write_json(job.meta(vid) / "comfy_history.json", {})
            atomic_write_json(job.meta(vid) / "score.json", {"total": total, "best": 0})
        ledger.record(
            job.path,
            {
                "artifact": artifact_id(night, KEY, "v0003"),
                "night": night,
                "job_key": KEY,
                "variant_id": "v0003",
                "decision": "approve",
                "by": "ana",
                "via": "cli",
                "at": "2026-02-02T09:00:00+00:00",
            },
        )


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run(tree: Tree, instance: dg.DagsterInstance, **config: object) -> dict[str, object]:
    result = dg.materialize(
        [retention],
        instance=instance,
        partition_key=SUNDAY,
        resources={"nightrun": NightrunResource(root=str(tree.root))},
        run_config={"ops": {"retention": {"config": {"keep_top_k": 1, **config}}}},
    )
    assert result.success
    meta = result.asset_materializations_for_node("retention")[0].metadata
    return {k: v.value for k, v in meta.items()}


def test_retention_asset_dry_run_then_real(tree: Tree) -> None:
    build(tree)
    before = digest(tree.root)
    with dg.instance_for_test() as instance:
        dry = run(tree, instance, dry_run=True)
        assert digest(tree.root) == before
        assert dry["dry_run"] is True and dry["today"] == "2026-02-16"
        assert dry["nights"] == [OLD]
        assert dry["deleted"] == 1  # v0002 of the old night; v0003 is approved, v0001 top 1
        assert dry["archived"] == 1
        assert "report" not in dry
        assert "| 2026-02-01 | alpha |" in str(dry["jobs"])
        assert "v0003 (approved)" in str(dry["jobs"])

        real = run(tree, instance)
        assert real["dry_run"] is False
        assert real["deleted"] == 1 and real["archived"] == 1
        pruned = tree.job(OLD, KEY).out("v0002") / "img_0001.png"
        assert real["bytes_freed"] == len(f"{OLD}/v0002".encode() * 50)
        assert not pruned.exists()
        archived = tree.root / "archive" / OLD / f"job_{KEY}" / "v0003" / "out" / "img_0001.png"
        assert (
            archived.read_bytes() == (tree.job(OLD, KEY).out("v0003") / "img_0001.png").read_bytes()
        )
        report = Path(str(real["report"]))
        assert report == tree.root / "ops" / "retention" / "2026-02-16.json"
        doc = json.loads(report.read_bytes())
        assert doc["runs"][-1]["deleted"] == [pruned.relative_to(tree.root).as_posix()]
        # The young night and all metadata are as they were.
        after = digest(tree.root)
        assert {k: v for k, v in after.items() if k.startswith(f"runs/{YOUNG}")} == {
            k: v for k, v in before.items() if k.startswith(f"runs/{YOUNG}")
        }
        assert all(after[k] == v for k, v in before.items() if "/meta/" in k)

        again = run(tree, instance)
        assert again["deleted"] == 0 and again["archived"] == 0
