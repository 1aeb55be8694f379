"""Fixtures for the workflows room: real params documents and captured ComfyUI payloads."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.cli.template import bundled_object_info
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.validate import Intake, ValidJob, validate_file
from nightrun_dagster.plan.variants import params_document
from nightrun_dagster.workflows.importer import build_template
from nightrun_dagster.workflows.schemas import NodeSchemas
from nightrun_dagster.workflows.templates import Template, load_template

REPO = Path(__file__).resolve().parents[2]
JOB_SPECS = REPO / "job_specs"
CAPTURES = Path(__file__).resolve().parent / "data" / "comfyui"
NIGHT = "2026-02-09"
UPLOADS = {
    "product_yerba.png": "nightrun_product_yerba.png",
    "ui_checkout_screen.png": "nightrun_ui_checkout_screen.png",
    "logo_verde.png": "nightrun_logo_verde.png",
}
EXAMPLES = {
    "static_ad_v1": "static_sdxl_ad.json",
    "ui_anchored_v1": "ui_anchored_ad.json",
    "wan21_teaser_v1": "video_teaser.json",
}


def intake() -> Intake:
    return Intake(assets_root=JOB_SPECS / "assets")


def all_params(found: ValidJob) -> list[dict[str, Any]]:
    """Every variant's params.json document for tonight, exactly as planning writes it."""
    expansion = expand_job(
        found.job, RunMode.exploration, NIGHT, found.cap, found.template.defaults
    )
    return [params_document(found, expansion, v) for v in expansion.variants]


def smoke_job(tmp: Path) -> ValidJob:
    """No example job uses smoke_v1: the static example pointed at it (no LoRAs, no map)."""
    doc = json.loads((JOB_SPECS / "static_sdxl_ad.json").read_text())
    doc["job_id"] = "smoke-check"
    doc["generation"]["workflow"] = {"template_id": "smoke_v1", "workflow_path": "smoke_v1.json"}
    doc["generation"]["variants"] = {"prompt_variants": ["smoke"]}
    doc["generation"]["seed_strategy"] = {"mode": "fixed", "seed": 1}
    path = tmp / "smoke.json"
    path.write_text(json.dumps(doc))
    return validate_file(path, intake())


@pytest.fixture(scope="session")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ValidJob]:
    """template id -> a validated example job that uses it."""
    found = {tid: validate_file(JOB_SPECS / name, intake()) for tid, name in EXAMPLES.items()}
    found["smoke_v1"] = smoke_job(tmp_path_factory.mktemp("smoke"))
    return found


@pytest.fixture(scope="session")
def params(jobs: dict[str, ValidJob]) -> dict[str, list[dict[str, Any]]]:
    """template id -> every variant's params document."""
    return {tid: all_params(found) for tid, found in jobs.items()}


def captured(name: str) -> Any:
    return json.loads((CAPTURES / name).read_text())


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    """GET /object_info/<Class> responses for the classes the capture asked about, merged."""
    merged: dict[str, Any] = {}
    for path in sorted(CAPTURES.glob("object_info_*.json")):
        if path.name != "object_info_index.json":
            merged.update(captured(path.name)["response"])
    return merged


@pytest.fixture(scope="session")
def object_info_index() -> dict[str, Any]:
    """Every class of the captured server (summary entries: no input specs)."""
    return captured("object_info_index.json")["nodes"]


@pytest.fixture
def build_params() -> Callable[..., dict[str, Any]]:
    """A copy of a params document with some keys replaced."""

    def make(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
        doc = json.loads(json.dumps(base))
        doc.update(changes)
        return doc

    return make


@pytest.fixture
def uploads() -> dict[str, str]:
    """Job asset path -> the name the server gave it after upload."""
    return dict(UPLOADS)


@pytest.fixture
def capture() -> Callable[[str], Any]:
    """Read one captured ComfyUI payload by file name."""
    return captured


OBJECT_INFO_FULL = (
    REPO / "nightrun_dagster" / "emulator" / "data" / "object_info_full.json",
    REPO.parent / "shared" / "comfyui-protocol" / "object_info_full.json",
)


@pytest.fixture(scope="session")
def object_info_full() -> dict[str, Any]:
    """The captured server's whole GET /object_info (478 classes): the emulator's package data,
    or the protocol captures beside the clone."""
    path = next((p for p in OBJECT_INFO_FULL if p.is_file()), None)
    if path is None:
        pytest.fail(f"no object_info_full.json at {', '.join(map(str, OBJECT_INFO_FULL))}")
    return json.loads(path.read_text())


API_WORKFLOWS = REPO / "tests" / "data" / "workflows" / "api"


def api_workflow(name: str) -> dict[str, Any]:
    """One of the API-format exports under tests/data/workflows/api."""
    return json.loads((API_WORKFLOWS / f"{name}.json").read_text())


def import_api_graph(graph: dict[str, Any], template_id: str, folder: Path) -> Template:
    """`graph` imported as `nightrun template add` writes it (API format, the bundled node
    catalogue for types), then loaded back from `<folder>/<template_id>.json`."""
    doc, _ = build_template(
        json.dumps(graph).encode(),
        label=f"{template_id}.json",
        template_id=template_id,
        schemas=NodeSchemas(bundled_object_info()),
        ui_object_info=None,
    )
    path = folder / f"{template_id}.json"
    path.write_text(json.dumps(doc))
    return load_template(path)
