"""What validation knows of templates (spec room) matches what rendering does (workflows room),
and the one rule for where a hand-checked job's assets are."""

import json
import shutil
from pathlib import Path

from nightrun_dagster.creative_job.checks import IMAGE_ASSETS
from nightrun_dagster.intake.assets import asset_root_candidates, assets_root_for
from nightrun_dagster.intake.validate import Intake, template_facts
from nightrun_dagster.workflows.apply import IMAGE_INPUT_ROLES
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR, load_templates

REPO = Path(__file__).resolve().parents[2]


def test_the_image_lists_checked_are_those_the_graph_loads() -> None:
    assert set(IMAGE_ASSETS) == set(IMAGE_INPUT_ROLES.values())


def test_template_facts_name_the_nodes_loading_job_images() -> None:
    templates = load_templates(DEFAULT_WORKFLOWS_DIR)
    ui = template_facts(templates["ui_anchored_v1"])
    assert ui.file_name == "ui_anchored_v1.json"
    assert ui.loads == {
        "base_ui_screens": "node 2, LoadImage",
        "product_images": "node 3, LoadImage",
    }
    for tid in ("static_ad_v1", "wan21_teaser_v1", "smoke_v1"):
        assert template_facts(templates[tid]).loads == {}, tid
    context = Intake(assets_root=REPO).check_context()
    assert set(context.templates) == set(templates) and context.broken == {}


def test_assets_root_for_one_job(tmp_path: Path) -> None:
    root = tmp_path / "night-runs"
    job = tmp_path / "jobs" / "job.json"
    job.parent.mkdir()
    job.write_text(json.dumps({"assets": {"product_images": ["p.png"], "logo": "l.png"}}))
    assert asset_root_candidates(job, root) == [job.parent / "assets", job.parent, root / "assets"]
    # Found nowhere: <root>/assets, where the queue's jobs point too.
    assert assets_root_for(job, root) == root / "assets"
    # In <root>/assets.
    (root / "assets").mkdir(parents=True)
    for name in ("p.png", "l.png"):
        (root / "assets" / name).write_bytes(b"x")
    assert assets_root_for(job, root) == root / "assets"
    # Beside the job file beats <root>/assets, assets/ beside it beats both.
    for name in ("p.png", "l.png"):
        shutil.copy(root / "assets" / name, job.parent / name)
    assert assets_root_for(job, root) == job.parent
    (job.parent / "assets").mkdir()
    assert assets_root_for(job, root) == job.parent  # assets/ lacks them: not chosen
    for name in ("p.png", "l.png"):
        shutil.copy(root / "assets" / name, job.parent / "assets" / name)
    assert assets_root_for(job, root) == job.parent / "assets"
    # --assets-root always wins.
    assert assets_root_for(job, root, tmp_path / "given") == tmp_path / "given"
    # An unreadable job lists no assets: the first existing folder.
    bad = job.parent / "bad.json"
    bad.write_text("{")
    assert assets_root_for(bad, root) == job.parent / "assets"
