"""collect_rows and the written HTML, without a browser: statuses, scores, paths, escaping."""

import json
import re
from pathlib import Path

from nightrun_dagster.contact.rows import summarize
from nightrun_dagster.contact.sheet import (
    SHEET_NAME,
    collect_rows,
    embed_json,
    job_sheet_html,
    write_job_sheet,
    write_night_sheet,
)


def _by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rows}


def _embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="sheet-data">(.*?)</script>', html, re.S)
    assert m, "no embedded data block"
    return json.loads(m.group(1))


def test_rows_follow_the_index_and_read_every_file(sample_night) -> None:
    rows = collect_rows(sample_night.promo)
    assert [r["id"] for r in rows] == [f"v000{i}" for i in range(1, 8)]
    r = _by_id(rows)

    best = r["v0002"]
    assert best["status"] == "scored"
    assert best["total"] == 0.91
    assert best["components"]["sharpness"] == 0.96
    assert best["components"]["ui_integrity"] is None  # static template: no UI to check
    assert list(best["components"]) == [
        "sharpness",
        "text",
        "brand_color",
        "ui_integrity",
        "artifacts",
    ]
    assert best["rank"] == 1 and best["cluster"] == "c1"
    assert best["lora_tags"] == ["brand_style@0.7"]
    assert best["template"] == "static_ad_v1"
    assert best["seed"] == 1001 and best["seed_text"] == "1001"
    assert (best["sampler"], best["steps"], best["cfg"], best["denoise"]) == (
        "dpmpp_2m_karras",
        20,
        4.5,
        1.0,
    )
    out = best["outputs"][0]
    assert out["file"] == "variants/v0002/out/img_0001.png"
    assert out["thumb"] == "variants/v0002/out/img_0001.preview.jpg"
    assert out["kind"] == "image"
    assert (sample_night.promo / out["file"]).is_file()
    assert (sample_night.promo / out["thumb"]).is_file()

    assert r["v0004"]["controlnet"] == "canny@0.55"
    assert r["v0004"]["components"]["ui_integrity"] == 0.78
    assert r["v0001"]["lora_tags"] == [] and r["v0001"]["rank"] == 2

    failed = r["v0005"]
    assert failed["status"] == "failed"
    assert failed["error"] == "out of memory at every rung"
    assert failed["outputs"] == [] and failed["total"] is None

    unscored = r["v0006"]
    assert unscored["status"] == "unscored"
    assert unscored["total"] is None and unscored["components"] == {}
    assert len(unscored["outputs"]) == 1


def test_href_prefix_makes_night_relative_paths(sample_night) -> None:
    rows = collect_rows(sample_night.teaser, href_prefix="job_teaser-reel/")
    video = rows[0]["outputs"][0]
    assert video == {
        "file": "job_teaser-reel/variants/v0001/out/vid_0001.mp4",
        "thumb": "job_teaser-reel/variants/v0001/out/vid_0001.poster.jpg",
        "kind": "video",
        "name": "out/vid_0001.mp4",
        "total": 0.7,
        "components": rows[0]["components"],
        "error": None,
    }
    assert rows[0]["components"]["temporal"] == 0.7
    assert (sample_night.night_dir / video["file"]).is_file()
    assert rows[1]["status"] == "unscored"


def test_summary_counts(sample_night) -> None:
    s = summarize(collect_rows(sample_night.promo))
    assert s["variants"] == 7
    assert (s["scored"], s["unscored"], s["failed"], s["pending"]) == (5, 1, 1, 0)
    assert s["rendered"] == 6
    assert s["shortlisted"] == 3
    assert s["best"] == 0.91
    assert s["templates"] == ["static_ad_v1", "ui_anchored_v1"]


def test_odd_and_hostile_sidecars_do_not_break_rows(tmp_path, make_job, spec_type, templates):
    job = make_job(
        tmp_path,
        "odd",
        "odd",
        [
            spec_type("v0001", templates["static"], seed=1, total=0.5),
            spec_type("v0002", templates["static"], seed=2, status="pending"),
            spec_type("v0003", templates["static"], seed=2**60, total=0.4),
        ],
    )
    # An output path that climbs out of the variant folder is dropped, not linked.
    params_path = job / "variants" / "v0001" / "meta" / "params.json"
    params = json.loads(params_path.read_text())
    params["render"]["outputs"].append({"file": "../../../../etc/passwd", "kind": "image"})
    params_path.write_text(json.dumps(params))
    # NaN in a score file (json reads it) must not poison the embedded JSON.
    score_path = job / "variants" / "v0003" / "meta" / "score.json"
    score_path.write_text(score_path.read_text().replace('"total": 0.4', '"total": NaN'))
    # An output the scorer could not read: total 0, no components, the reason.
    score_path = job / "variants" / "v0001" / "meta" / "score.json"
    score = json.loads(score_path.read_text())
    score["outputs"][0].update(total=0.0, components=None, error="cannot decode image")
    score_path.write_text(json.dumps(score))
    # A listed variant without any files.
    index_path = job / "variants" / "index.json"
    index = json.loads(index_path.read_text())
    index["variants"].append("v0004")
    index_path.write_text(json.dumps(index))

    r = _by_id(collect_rows(job))
    assert [o["name"] for o in r["v0001"]["outputs"]] == ["out/img_0001.png"]
    assert (r["v0001"]["total"], r["v0001"]["components"]) == (0.0, {})
    assert r["v0001"]["error"] == "cannot decode image"
    assert r["v0002"]["status"] == "pending"
    assert r["v0003"]["total"] is None  # NaN is no score
    assert r["v0003"]["seed"] == 2**60 and r["v0003"]["seed_text"] == str(2**60)
    assert r["v0004"]["status"] == "missing"
    json.loads(embed_json(list(r.values())))  # serialisable, strictly


def test_without_an_index_the_variant_folders_are_listed(tmp_path, make_job, spec_type, templates):
    job = make_job(tmp_path, "noindex", "noindex", [spec_type("v0002", templates["ui"], seed=1)])
    (job / "variants" / "index.json").unlink()
    assert [r["id"] for r in collect_rows(job)] == ["v0002"]


def test_job_text_cannot_escape_the_page(sample_night, injection) -> None:
    html = job_sheet_html(sample_night.promo)
    # Neither the prompt nor the job id appears raw: no closing tag, no live markup.
    assert injection not in html
    assert "<b>#12</b>" not in html
    assert html.count("</script>") == 2  # the data block's and the script's own
    assert "<h1>Promo &#34;Café&#34; &lt;b&gt;#12&lt;/b&gt;</h1>" in html
    data = _embedded(html)
    prompts = {r["id"]: r["prompt"] for r in data["rows"]}
    assert prompts["v0006"] == f"checkout {injection} screen"
    assert data["jobs"][0]["job_id"] == 'Promo "Café" <b>#12</b>'


def test_the_page_is_self_contained(sample_night) -> None:
    html = job_sheet_html(sample_night.promo)
    assert "Content-Security-Policy" in html
    assert "default-src 'none'" in html
    # No external resources of any kind: every URL in the markup is relative or data:.
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert not re.match(r"^[a-z]+:", url) or url.startswith("data:"), url
    assert '<link rel="stylesheet"' not in html and "@import" not in html
    assert "http://" not in html and "https://" not in html


def test_write_sheets_atomically(sample_night) -> None:
    job_page = write_job_sheet(sample_night.promo)
    assert job_page == sample_night.promo / SHEET_NAME
    # Written before the night page exists: no link to a page that is not there.
    assert f'href="../{SHEET_NAME}"' not in job_page.read_text()

    night_page = write_night_sheet(sample_night.night_dir)
    assert night_page == sample_night.night_dir / SHEET_NAME
    for job in (sample_night.promo, sample_night.teaser):
        assert f'href="../{SHEET_NAME}"' in (job / SHEET_NAME).read_text()
    html = night_page.read_text()
    assert 'href="job_promo-cafe-12/contact_sheet.html"' in html
    assert 'href="job_teaser-reel/contact_sheet.html"' in html
    data = _embedded(html)
    assert [j["key"] for j in data["jobs"]] == ["promo-cafe-12", "teaser-reel"]
    assert len(data["rows"]) == 9
    leftovers = [p for p in sample_night.night_dir.rglob(".*.tmp")]
    assert leftovers == []


def test_empty_night_and_job(tmp_path: Path) -> None:
    night = tmp_path / "runs" / "2026-02-15"
    (night / "job_quiet").mkdir(parents=True)
    html = write_night_sheet(night).read_text()
    assert _embedded(html)["rows"] == []
    assert "No variants planned" in (night / "job_quiet" / SHEET_NAME).read_text()


def test_night_lists_planned_jobs_not_started_yet(sample_night) -> None:
    plan_path = sample_night.night_dir / "night_plan.json"
    plan = json.loads(plan_path.read_text())
    plan["jobs"].insert(0, {"key": "late-job", "job_id": "Late job"})
    plan["jobs"].append({"key": "../escape", "job_id": "not a key"})
    plan_path.write_text(json.dumps(plan))
    html = write_night_sheet(sample_night.night_dir).read_text()
    jobs = _embedded(html)["jobs"]
    assert [(j["key"], j["job_id"], j["href"]) for j in jobs] == [
        ("late-job", "Late job", None),
        ("promo-cafe-12", 'Promo "Café" <b>#12</b>', "job_promo-cafe-12/contact_sheet.html"),
        ("teaser-reel", "Teaser reel", "job_teaser-reel/contact_sheet.html"),
    ]
    assert jobs[0]["summary"]["variants"] == 0
    assert "not started" in html
    assert not (sample_night.night_dir / "job_late-job").exists()
