"""`nightrun cost`: refits and writes the model, prints a table or the document as JSON, and
refuses an unknown --template with the known ids and exit code 2."""

import json
import shutil
from pathlib import Path

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.store.cost_docs import CostSource, read_cost_model
from nightrun_dagster.store.paths import Tree

OLD_NIGHT = Path(__file__).resolve().parents[1] / "data" / "old_night"
PROJECT_TEMPLATES = ("smoke_v1", "static_ad_v1", "ui_anchored_v1", "wan21_teaser_v1")


@pytest.fixture(autouse=True)
def project_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    # The project's workflows/ folder: the ids the assertions name.
    monkeypatch.delenv("NIGHTRUN_WORKFLOWS_DIR", raising=False)


@pytest.fixture
def old_night(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(OLD_NIGHT, root)
    return root


def test_table_and_written_document(old_night: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--root", str(old_night), "--night", "2026-11-29"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["template", "version", "endpoint"]
    static = next(line for line in lines if line.startswith("static_ad_v1"))
    assert "http://127.0.0.1:41045" in static and "measured" in static
    smoke = next(line for line in lines if line.startswith("smoke_v1"))
    assert "prior: metadata" in smoke and "2.00" in smoke
    doc = read_cost_model(Tree(old_night))
    assert doc.before_night == "2026-11-29" and doc.nights == ["2026-11-28"]
    assert sorted(e.template_id for e in doc.entries) == list(PROJECT_TEMPLATES[1:])
    assert str(Tree(old_night).cost_model) in out


def test_cold_render_shown_as_left_out(old_night: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The old night's one teaser loaded its models (nothing cached); a second one, warm, at a
    # third of its seconds: the fit keeps the warm one and says what it left out.
    variants = old_night / "runs/2026-11-28/job_verde-teaser-reel-2026-02/variants"
    params = json.loads((variants / "v0001/meta/params.json").read_text())
    assert params["render"]["cached_nodes"] == []
    params["variant_id"] = "v0002"
    params["render"].update(cached_nodes=["1", "2"], server_s=0.15)
    (variants / "v0002/meta").mkdir(parents=True)
    (variants / "v0002/meta/params.json").write_text(json.dumps(params))
    args = ["cost", "--root", str(old_night), "--night", "2026-11-29", "--template"]
    assert main([*args, "wan21_teaser_v1"]) == 0
    [teaser] = [line for line in capsys.readouterr().out.splitlines() if "wan21" in line]
    assert "1 cold" in teaser
    entries = read_cost_model(Tree(old_night)).entries
    [entry] = [e for e in entries if e.template_id == "wan21_teaser_v1"]
    assert (entry.samples, entry.cold) == (1, 1)
    assert entry.seconds(entry.units_min) == pytest.approx(0.15)


def test_json_is_the_document(old_night: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cost", "--root", str(old_night), "--night", "2026-11-29", "--json"]
    assert main([*args, "--template", "static_ad_v1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["template_id"] for e in data["entries"]] == ["static_ad_v1"]
    assert data["entries"][0]["per_unit_s"] == pytest.approx(0.189 / 1.25)
    assert [p["template_id"] for p in data["priors"]] == ["static_ad_v1"]


def test_empty_tree_says_every_template_is_on_its_prior(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cost", "--root", str(tmp_path), "--night", "2026-02-02"]) == 0
    out = capsys.readouterr().out
    assert "every template is on its prior" in out
    for tid in PROJECT_TEMPLATES:
        assert tid in out
    doc = read_cost_model(Tree(tmp_path))
    assert doc.entries == []
    assert {p.source for p in doc.priors} == {CostSource.METADATA}


def test_unknown_template_exit_2_names_known_ids(
    old_night: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["cost", "--root", str(old_night), "--template", "nope_v9"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "nope_v9" in captured.err and "Traceback" not in captured.err
    for tid in PROJECT_TEMPLATES:
        assert tid in captured.err


def test_bad_night_is_a_usage_error(old_night: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--root", str(old_night), "--night", "yesterday"]) == 2
    assert "--night" in capsys.readouterr().err
