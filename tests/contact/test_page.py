"""The sheet's templates: every value is escaped where it lands (text, attribute, JSON block),
checked in a real Chromium; a variable the code forgot fails; every template ships."""

import json
import tomllib
from pathlib import Path
from typing import Any

import jinja2
import pytest

from nightrun_dagster.contact import page as sheet_page
from nightrun_dagster.contact.sheet import SHEET_NAME, write_night_sheet

ROOT = Path(__file__).resolve().parents[2]
# Markup, both quotes and an ampersand: text, an attribute value and the JSON block must all
# show it as written.
HOSTILE = """Sale "50%" <script>alert(1)</script> 'now' & more"""
HOSTILE_LORA = """x" onmouseover="alert(2)" <script>alert(3)</script>"""
HOSTILE_TEMPLATE = """t'><script>alert(4)</script>"""


def _json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


@pytest.fixture
def hostile_night(tmp_path: Path, make_job, spec_type, templates) -> Path:
    """A night whose job id, prompt, template id, LoRA name, plan, block reason and breaker
    reason are all markup."""
    night_dir = tmp_path / "runs" / "2026-02-10"  # the night make_job writes in the index
    template = templates["static"] | {"id": HOSTILE_TEMPLATE}
    job = make_job(
        night_dir,
        "hostile",
        HOSTILE,
        [spec_type("v0001", template, seed=3, lora=0.7, total=0.8, prompt=HOSTILE)],
    )
    params_path = job / "variants" / "v0001" / "meta" / "params.json"
    params = json.loads(params_path.read_text())
    params["loras"][0]["name"] = HOSTILE_LORA
    params_path.write_text(json.dumps(params))
    _json(job / "blocked.json", {"reason": HOSTILE})
    breaker = {"kind": "breaker", "reason": HOSTILE, "detail": {"breaker": "gpu_oom"}, "at": "x"}
    _json(job / "breaker.json", breaker)
    _json(
        night_dir / "night_plan.json",
        {"night": "2026-02-10", "mode": HOSTILE, "jobs": [{"key": "hostile", "job_id": HOSTILE}]},
    )
    cut = {
        "breaker": "gpu_oom",
        "reason": HOSTILE,
        "tripped_at": "2026-02-11T05:00:00+00:00",
        "job": "hostile",
        "still_latched": True,
        "left": 1,
    }
    _json(night_dir / "night_summary.json", {"cut_short": cut})
    return night_dir


def _no_script_ran(page) -> None:
    dialogs = [e for e in page.browser.events if e["method"] == "Page.javascriptDialogOpening"]
    assert dialogs == []
    # Only the data block and the page's own script; no handler attribute came through.
    assert page.js("document.querySelectorAll('script').length") == 2
    assert page.js("document.querySelectorAll('[onmouseover], [onerror]').length") == 0
    assert page.js("document.body.dataset.ready") == "1"


def test_hostile_text_is_shown_literally_and_never_runs(page, hostile_night: Path) -> None:
    night_page = write_night_sheet(hostile_night)
    for path in (night_page, hostile_night / "job_hostile" / SHEET_NAME):
        source = path.read_text()
        assert "<script>alert" not in source and 'onmouseover="' not in source

    page.open(night_page)
    _no_script_ran(page)
    shown = page.js(
        """(() => {
          const text = (sel) => document.querySelector(sel).textContent;
          const options = (id) => [...document.getElementById(id).options]
            .map(o => [o.value, o.textContent]);
          return {
            sub: text('p.sub'),
            banner: text('.cut-short'),
            cell: text('table.jobs tr[data-job="hostile"] td'),
            h2: text('section.job h2'),
            blocked: text('section.job .job-head > span.blocked'),
            jobs: options('f-job'),
            templates: options('f-template'),
            loras: options('f-lora'),
            prompt: text('article.card .prompt'),
            jobtag: text('article.card .jobtag'),
          };
        })()"""
    )
    lora = f"{HOSTILE_LORA}@0.7"
    assert shown["sub"].startswith(f"1 jobs · {HOSTILE} · written ")
    assert f"({HOSTILE})" in shown["banner"]
    assert shown["cell"] == f"{HOSTILE} blocked"
    assert shown["h2"] == HOSTILE
    assert shown["blocked"] == f"blocked: {HOSTILE}"
    assert shown["jobs"] == [["", "all jobs"], ["hostile", HOSTILE]]
    assert shown["templates"] == [["", "all"], [HOSTILE_TEMPLATE, HOSTILE_TEMPLATE]]
    assert shown["loras"] == [["", "any"], ["none", "none"], [lora, lora]]
    assert shown["prompt"] == HOSTILE and shown["jobtag"] == HOSTILE
    # The filters match the hostile values exactly, as the menus hold them.
    assert page.set("f-lora", lora) == "showing 1 of 1"
    assert page.set("f-template", HOSTILE_TEMPLATE) == "showing 1 of 1"

    page.open(hostile_night / "job_hostile" / SHEET_NAME)
    _no_script_ran(page)
    job = page.js(
        """[document.title, document.querySelector('h1').textContent,
            document.querySelector('p.blocked:not(.cut-short)').textContent,
            document.querySelector('.cut-short').textContent]"""
    )
    assert job[0] == f"{HOSTILE} · 2026-02-10 · contact sheet"
    assert job[1] == HOSTILE
    assert job[2] == f"blocked: {HOSTILE}"
    assert f"({HOSTILE})" in job[3]
    assert page.data()["rows"][0]["prompt"] == HOSTILE


def test_a_missing_variable_fails_the_render() -> None:
    with pytest.raises(jinja2.UndefinedError, match="is undefined"):
        sheet_page.render("job.html.j2", data={"kind": "job", "night": "n", "rows": []})


def test_every_template_file_is_package_data() -> None:
    """A template left out of the wheel would only fail on an installed copy."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["nightrun_dagster.contact"]
    package = ROOT / "nightrun_dagster" / "contact"
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    files = {p for p in (package / "templates").iterdir() if p.is_file()}
    assert files and files <= shipped
