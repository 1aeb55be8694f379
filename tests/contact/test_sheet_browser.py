"""Contact sheets in a real headless Chromium: cards, sorting, filters, lightbox, no network."""

import time
from pathlib import Path

from PIL import Image

from nightrun_dagster.contact.sheet import write_job_sheet, write_night_sheet

TIER = {"scored": 0, "unscored": 1, "pending": 2, "failed": 3, "missing": 4}
PROMO_ALL = {f"v000{i}" for i in range(1, 8)}


def _open_job(page, sample_night) -> None:
    page.open(write_job_sheet(sample_night.promo))


def test_one_card_per_variant_sorted_by_total(page, sample_night) -> None:
    _open_job(page, sample_night)
    assert page.js("document.querySelectorAll('article.card').length") == 7
    assert page.js("document.getElementById('count').textContent") == "showing 7 of 7"
    assert page.js("document.getElementById('sort-key').value") == "total"
    assert page.js("document.getElementById('sort-dir').value") == "desc"

    rows = page.data()["rows"]
    expected = sorted(
        rows,
        key=lambda r: (r["total"] is None, -(r["total"] or 0), TIER[r["status"]], r["id"]),
    )
    order = page.variant_ids()
    assert order == [r["id"] for r in expected]
    assert order == ["v0002", "v0004", "v0001", "v0007", "v0003", "v0006", "v0005"]
    badges = page.js(
        "[...document.querySelectorAll('article.card')].map(c => c.querySelector('.badge')"
        ".textContent)"
    )
    assert badges == ["0.91", "0.78", "0.62", "0.55", "0.35", "UNSCORED", "FAILED"]

    card = page.js(
        """(() => {
          const c = document.querySelector('article.card[data-id="v0004"]');
          return {
            text: c.innerText,
            bars: [...c.querySelectorAll('.bar')].map(b => b.dataset.component),
            width: c.querySelector('.bar[data-component="sharpness"] .fill').style.width,
            star: c.querySelector('.star').textContent,
            lazy: c.querySelector('img').loading,
            thumb: c.querySelector('img').getAttribute('src'),
          };
        })()"""
    )
    assert card["bars"] == ["sharpness", "text", "brand_color", "ui_integrity", "artifacts"]
    assert card["width"] == "83%"
    assert card["star"] == "★3"
    assert card["lazy"] == "lazy"
    assert card["thumb"] == "variants/v0004/out/img_0001.preview.jpg"
    for shown in (
        "seed 1000",
        "dpmpp_2m_karras",
        "20 steps",
        "cfg 4.5",
        "denoise 1",
        "brand_style@0.7",
        "canny@0.55",
        "ui_anchored_v1 1.0.0",
        "UI integrity",
    ):
        assert shown in card["text"], shown
    failed = page.js("document.querySelector('article.card[data-id=\"v0005\"]').innerText")
    assert "FAILED" in failed and "out of memory at every rung" in failed


def test_sorting_reorders_the_cards(page, sample_night) -> None:
    _open_job(page, sample_night)
    page.set("sort-key", "seed")
    page.set("sort-dir", "asc")
    assert page.variant_ids() == ["v0007", "v0004", "v0002", "v0006", "v0001", "v0005", "v0003"]
    page.set("sort-dir", "desc")
    assert page.variant_ids() == ["v0003", "v0005", "v0001", "v0006", "v0002", "v0004", "v0007"]
    page.set("sort-key", "id")
    assert page.variant_ids() == sorted(PROMO_ALL, reverse=True)
    # Only the UI template has a UI score; the others follow, then unscored, then failed.
    page.set("sort-key", "ui_integrity")
    assert page.variant_ids() == ["v0004", "v0001", "v0002", "v0003", "v0007", "v0006", "v0005"]
    page.set("sort-key", "total")
    page.set("sort-dir", "asc")
    assert page.variant_ids() == ["v0003", "v0007", "v0001", "v0004", "v0002", "v0006", "v0005"]


def test_filters_give_the_expected_counts(page, sample_night) -> None:
    _open_job(page, sample_night)
    options = page.js(
        "['f-template', 'f-lora'].map(id => [...document.getElementById(id).options]"
        ".map(o => o.value))"
    )
    assert options == [
        ["", "static_ad_v1", "ui_anchored_v1"],
        ["", "none", "brand_style@0.7", "brand_style@1.0"],
    ]

    assert page.set("f-template", "ui_anchored_v1") == "showing 3 of 7"
    assert set(page.variant_ids()) == {"v0004", "v0005", "v0006"}
    assert page.set("f-template", "static_ad_v1") == "showing 4 of 7"
    page.set("f-template", "")

    assert page.set("f-lora", "none") == "showing 3 of 7"
    assert set(page.variant_ids()) == {"v0001", "v0005", "v0007"}
    assert page.set("f-lora", "brand_style@0.7") == "showing 2 of 7"
    assert set(page.variant_ids()) == {"v0002", "v0004"}
    assert page.set("f-lora", "brand_style@1.0") == "showing 2 of 7"
    page.set("f-lora", "")

    assert page.set("f-min", "0.5") == "showing 4 of 7"
    assert page.set("f-max", "0.8") == "showing 3 of 7"
    assert set(page.variant_ids()) == {"v0001", "v0004", "v0007"}
    page.set("f-min", "")
    page.set("f-max", "")

    assert page.set("f-short", True) == "showing 3 of 7"
    assert page.variant_ids() == ["v0002", "v0004", "v0001"]
    assert page.set("f-template", "static_ad_v1") == "showing 2 of 7"
    page.set("f-template", "")
    page.set("f-short", False)

    assert page.set("f-status", "failed") == "showing 1 of 7"
    page.set("f-status", "")
    assert page.set("f-search", "CHECKOUT") == "showing 1 of 7"
    assert page.variant_ids() == ["v0006"]
    assert page.set("f-search", "yerba mate") == "showing 6 of 7"
    assert page.set("f-search", "") == "showing 7 of 7"
    assert set(page.variant_ids()) == PROMO_ALL


def test_job_text_is_shown_as_text(page, sample_night, injection) -> None:
    _open_job(page, sample_night)
    assert page.js("document.querySelectorAll('img[src=\"x\"], img[src=x]').length") == 0
    shown = page.js("document.querySelector('article.card[data-id=\"v0006\"] .prompt').textContent")
    assert shown == f"checkout {injection} screen"
    h1 = page.js("[document.querySelector('h1').textContent, document.querySelector('h1 b')]")
    assert h1 == ['Promo "Café" <b>#12</b>', None]
    # The data block is still one block and the page's own script ran to the end.
    assert page.js("document.querySelectorAll('script').length") == 2
    dialogs = [e for e in page.browser.events if e["method"] == "Page.javascriptDialogOpening"]
    assert dialogs == []


def test_lightbox_opens_the_full_image(page, sample_night) -> None:
    _open_job(page, sample_night)
    assert page.js("document.getElementById('lightbox').hidden") is True
    page.browser.click('article.card[data-id="v0002"] .thumb')
    page.browser.wait_for("!document.getElementById('lightbox').hidden")
    full = sample_night.promo / "variants" / "v0002" / "out" / "img_0001.png"
    media = page.browser.wait_for(
        """(() => {
          const img = document.querySelector('#lb-stage img');
          return img && img.complete && [img.src, img.naturalWidth, img.naturalHeight];
        })()"""
    )
    assert media == [full.as_uri(), 96, 120]
    assert "v0002" in page.js("document.getElementById('lb-caption').textContent")

    # → walks the cards in their current order: v0004 follows v0002 by total.
    page.browser.press("ArrowRight")
    src = page.browser.wait_for(
        "(document.querySelector('#lb-stage img') || {}).src?.includes('v0004') && "
        "document.querySelector('#lb-stage img').src"
    )
    assert src.endswith("variants/v0004/out/img_0001.png")

    page.browser.press("Escape")
    page.browser.wait_for("document.getElementById('lightbox').hidden")
    assert page.js("document.getElementById('lb-stage').children.length") == 0

    # A failed variant has nothing to open.
    assert page.js("document.querySelector('article.card[data-id=\"v0005\"] .thumb').disabled")


def test_night_page_lists_every_job_and_its_cards(page, sample_night) -> None:
    page.open(write_night_sheet(sample_night.night_dir))
    jobs = page.js(
        """[...document.querySelectorAll('table.jobs tr[data-job]')].map(tr => ({
          key: tr.dataset.job,
          link: tr.querySelector('a').getAttribute('href'),
          cells: [...tr.cells].map(td => td.textContent),
        }))"""
    )
    assert [j["key"] for j in jobs] == ["promo-cafe-12", "teaser-reel"]
    assert jobs[0]["cells"] == [
        'Promo "Café" <b>#12</b>',
        "static_ad_v1, ui_anchored_v1",
        *("7", "5", "1", "0", "1", "3", "0.91"),
    ]
    assert jobs[1]["cells"][2:5] == ["2", "1", "1"]
    for j in jobs:
        assert j["link"] == f"job_{j['key']}/contact_sheet.html"
        assert (sample_night.night_dir / j["link"]).is_file()

    per_job = page.js(
        """Object.fromEntries([...document.querySelectorAll('section.job')].map(s =>
          [s.dataset.job, [s.querySelectorAll('article.card').length,
                           s.querySelector('.job-count').textContent]]))"""
    )
    assert per_job == {"promo-cafe-12": [7, "showing 7 of 7"], "teaser-reel": [2, "showing 2 of 2"]}
    assert page.js("document.getElementById('count').textContent") == "showing 9 of 9"

    thumbs = page.js(
        "[...document.querySelectorAll('article.card img')].map(i => i.getAttribute('src'))"
    )
    assert len(thumbs) == 8  # the failed variant has none
    assert all(
        t.startswith(("job_promo-cafe-12/variants/", "job_teaser-reel/variants/")) for t in thumbs
    )
    page.wait_images()
    broken = page.js("[...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
    assert broken == []

    # One grid for the whole night, sorted across jobs.
    page.set("f-group", False)
    assert page.ids()[:3] == ["promo-cafe-12/v0002", "promo-cafe-12/v0004", "teaser-reel/v0001"]
    assert page.js("document.getElementById('flat').children.length") == 9
    page.set("f-group", True)
    assert page.set("f-job", "teaser-reel") == "showing 2 of 9"
    assert page.js("document.getElementById('job-promo-cafe-12').hidden") is True
    assert page.set("f-template", "static_ad_v1") == "showing 0 of 9"
    page.set("f-template", "")
    page.set("f-job", "")

    page.browser.click('article.card[data-job="teaser-reel"][data-id="v0001"] .thumb')
    video = page.browser.wait_for(
        """(() => {
          const v = document.querySelector('#lb-stage video');
          return v && [v.getAttribute('src'), v.controls, v.getAttribute('poster')];
        })()"""
    )
    assert video == [
        "job_teaser-reel/variants/v0001/out/vid_0001.mp4",
        True,
        "job_teaser-reel/variants/v0001/out/vid_0001.poster.jpg",
    ]
    page.browser.press("Escape")
    page.browser.wait_for("document.getElementById('lightbox').hidden")


def test_no_request_leaves_file_urls(page, sample_night) -> None:
    page.open(write_night_sheet(sample_night.night_dir))
    page.js("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_images()
    page.browser.click('article.card[data-job="teaser-reel"][data-id="v0001"] .thumb')
    page.browser.wait_for("!!document.querySelector('#lb-stage video')")
    video = page.browser.wait_request("job_teaser-reel/variants/v0001/out/vid_0001.mp4")
    page.browser.press("Escape")
    requested = page.browser.requests()
    # The page, every thumbnail and the video at least, and all of them local files; the only
    # others are data: URLs, Chromium's own icons for the <video> controls, read from memory.
    local = [u for u in requested if u.startswith("file://")]
    assert len(local) >= 10
    assert [u for u in requested if not u.startswith(("file://", "data:"))] == []
    assert sample_night.night_dir.as_uri() + "/contact_sheet.html" in local
    assert video == (sample_night.teaser / "variants/v0001/out/vid_0001.mp4").as_uri()
    entries = page.js("performance.getEntries().map(e => e.name).filter(n => n.includes(':'))")
    assert entries
    assert [u for u in entries if not u.startswith("file://")] == []


def test_screenshot_shows_the_sheet(page, sample_night, tmp_path: Path) -> None:
    _open_job(page, sample_night)
    page.wait_images()
    shot = page.browser.screenshot(tmp_path / "contact_sheet.png")
    with Image.open(shot) as img:
        assert img.format == "PNG"
        assert img.size == (1280, 900)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    # Thumbnails (gradients), text and score colours: far beyond a blank or error page.
    assert colours is not None and len(colours) > 500


def test_eight_hundred_cards_stay_fast(page, tmp_path, make_job, spec_type, templates) -> None:
    specs = [
        spec_type(
            f"v{i:04d}",
            templates["static"] if i % 2 else templates["ui"],
            seed=5000 + (i * 7919) % 800,
            lora=(None, 0.4, 0.7, 1.0)[i % 4],
            total=None if i % 50 == 0 else round((i * 37 % 100) / 100, 2),
        )
        for i in range(1, 801)
    ]
    job = make_job(tmp_path / "runs" / "2026-02-11", "big", "big", specs, images=False)
    jpeg = tmp_path / "thumb.jpg"
    Image.new("RGB", (48, 60), (20, 110, 70)).save(jpeg, "JPEG")
    data = jpeg.read_bytes()
    for s in specs:
        (job / "variants" / s.vid / "out").mkdir(parents=True, exist_ok=True)
        (job / "variants" / s.vid / "out" / "img_0001.preview.jpg").write_bytes(data)

    sheet = write_job_sheet(job)
    started = time.monotonic()
    page.open(sheet)
    assert time.monotonic() - started < 10
    assert page.js("document.querySelectorAll('article.card img[loading=lazy]').length") == 800
    assert page.js("document.getElementById('count').textContent") == "showing 800 of 800"
    took = page.js(
        """(() => {
          const t0 = performance.now();
          const s = document.getElementById('sort-key');
          s.value = 'seed';
          s.dispatchEvent(new Event('change'));
          const f = document.getElementById('f-lora');
          f.value = 'brand_style@0.7';
          f.dispatchEvent(new Event('change'));
          return performance.now() - t0;
        })()"""
    )
    assert page.js("document.getElementById('count').textContent") == "showing 200 of 800"
    assert took < 1000, f"sort and filter of 800 cards took {took:.0f} ms"
    # Lazy loading: only the thumbnails near the viewport were asked for.
    page.browser.wait_request(".preview.jpg")
    fetched = [u for u in page.browser.requests() if u.endswith(".jpg")]
    assert 0 < len(fetched) < 200
