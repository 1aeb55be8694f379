"""Contact sheets and the night digest of a night whose losers retention pruned: no crash, and
every pruned output shown as pruned, with its scores, never as a broken link."""

import json
from datetime import date
from typing import Any

import pytest

from nightrun_dagster.contact.rows import summarize
from nightrun_dagster.contact.sheet import SHEET_NAME, collect_rows, write_night_sheet
from nightrun_dagster.retention import apply_retention, plan_retention
from nightrun_dagster.selection.digest import night_digest

TODAY = date(2026, 3, 16)  # five weeks after the sample night
# Sample night, top 1 kept per job plus the promo shortlist (v0002, v0001, v0004).
PRUNED = {"promo-cafe-12": {"v0003", "v0006", "v0007"}, "teaser-reel": {"v0002"}}


@pytest.fixture
def pruned_night(sample_night: Any) -> Any:
    root = sample_night.night_dir.parents[1]
    report = apply_retention(plan_retention(root, TODAY, keep_top_k=1), dry_run=False)
    gone = {(p.parts[-5].removeprefix("job_"), p.parts[-3]) for p in report.deleted}
    assert gone == {(job, vid) for job, vids in PRUNED.items() for vid in vids}
    return sample_night


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def test_rows_say_pruned_and_keep_the_scores(pruned_night: Any) -> None:
    rows = _by_id(collect_rows(pruned_night.promo))
    lost = rows["v0003"]
    assert lost["status"] == "scored" and lost["total"] == 0.35
    assert lost["components"]["sharpness"] == 0.4
    assert lost["pruned"] == 1
    [out] = lost["outputs"]
    assert out["pruned"] is True and out["file"] is None and out["thumb"] is None
    marker = json.loads((pruned_night.promo / "variants/v0003/meta/retention.json").read_bytes())
    assert out["pruned_at"] == marker["files"]["out/img_0001.png"]["pruned_at"]
    assert rows["v0006"]["status"] == "unscored" and rows["v0006"]["pruned"] == 1

    kept = rows["v0002"]
    assert kept["pruned"] == 0 and "pruned" not in kept["outputs"][0]
    assert (pruned_night.promo / kept["outputs"][0]["file"]).is_file()
    assert (pruned_night.promo / kept["outputs"][0]["thumb"]).is_file()

    summary = summarize(list(rows.values()))
    assert summary["pruned"] == 3
    assert (summary["scored"], summary["unscored"], summary["failed"]) == (5, 1, 1)
    assert summary["shortlisted"] == 3 and summary["best"] == 0.91

    video = collect_rows(pruned_night.teaser)[1]["outputs"][0]
    assert video["pruned"] is True and video["file"] is None and video["thumb"] is None


def test_night_digest_and_sheets_of_a_pruned_night(pruned_night: Any) -> None:
    night_dir = pruned_night.night_dir
    digest = night_digest(night_dir)
    jobs = {j.job: j for j in digest.jobs}
    assert jobs["promo-cafe-12"].rendered == 6 and jobs["promo-cafe-12"].failed == 1
    assert jobs["promo-cafe-12"].best == "v0002" and jobs["teaser-reel"].rendered == 2

    page = write_night_sheet(night_dir)
    html = page.read_text()
    data = json.loads(html.split('id="sheet-data">', 1)[1].split("</script>", 1)[0])
    pruned_rows = {(r["job"], r["id"]) for r in data["rows"] if r["pruned"]}
    assert pruned_rows == {(job, vid) for job, vids in PRUNED.items() for vid in vids}
    # No URL of the page points at a file retention removed.
    for row in data["rows"]:
        for out in row["outputs"]:
            for url in (out["file"], out["thumb"]):
                assert url is None or (night_dir / url).is_file(), url
    job_page = (pruned_night.promo / SHEET_NAME).read_text()
    assert "<li><b>3</b> pruned</li>" in job_page


def test_a_pruned_card_in_the_browser(page: Any, pruned_night: Any) -> None:
    page.open(write_night_sheet(pruned_night.night_dir))
    page.js("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_images()
    card = page.js(
        """(() => {
          const c = document.querySelector(
            'article.card[data-job="promo-cafe-12"][data-id="v0003"]');
          return {
            images: c.querySelectorAll('img').length,
            placeholder: c.querySelector('.placeholder').textContent,
            badge: c.querySelector('.badge').textContent,
            note: c.querySelector('.note.pruned').textContent,
          };
        })()"""
    )
    assert card["images"] == 0 and card["placeholder"] == "PRUNED"
    assert card["badge"] == "0.35"
    assert card["note"].startswith("pruned by retention on 20")
    # Every image the page shows loaded: nothing points at a removed file.
    broken = page.js("[...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
    assert broken == []

    page.browser.click('article.card[data-job="promo-cafe-12"][data-id="v0003"] .thumb')
    page.browser.wait_for("!document.getElementById('lightbox').hidden")
    box = page.js(
        """(() => ({
          media: document.querySelectorAll('#lb-stage img, #lb-stage video').length,
          stage: document.getElementById('lb-stage').textContent,
          links: document.querySelectorAll('#lb-caption a').length,
          caption: document.getElementById('lb-caption').textContent,
        }))()"""
    )
    assert box["media"] == 0 and box["links"] == 0
    assert box["stage"].startswith("PRUNED BY RETENTION ON 20")
    assert "v0003" in box["caption"] and "score 0.35" in box["caption"]
    page.browser.press("Escape")
    page.browser.wait_for("document.getElementById('lightbox').hidden")
    removed = [u for u in page.browser.requests() if "/v0003/out/" in u or "/v0006/out/" in u]
    assert removed == []


def test_pruned_outputs_need_the_retention_marker(sample_night: Any) -> None:
    # A file that vanished without retention saying so is not called pruned: its link stays,
    # so a real loss shows as a broken picture rather than hiding behind "pruned".
    (sample_night.promo / "variants" / "v0003" / "out" / "img_0001.png").unlink()
    row = _by_id(collect_rows(sample_night.promo))["v0003"]
    assert row["pruned"] == 0 and "pruned" not in row["outputs"][0]
    assert row["outputs"][0]["file"] == "variants/v0003/out/img_0001.png"
