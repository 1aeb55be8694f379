"""The CDP driver itself: it starts, evaluates, screenshots, and says clearly when it cannot."""

from pathlib import Path

import pytest
from PIL import Image

from tests.contact.browser import Browser, BrowserError, find_chromium


def test_missing_chromium_is_an_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserError, match="no Chromium found"):
        find_chromium()
    with pytest.raises(BrowserError, match="cannot start"):
        Browser(str(tmp_path / "chromium")).launch()
    assert list(tmp_path.iterdir()) == []


def test_a_browser_of_its_own(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text(
        "<!doctype html><body style='margin:0;background:#146e46'>"
        "<button id=b onclick=\"this.textContent='clicked'\" style='width:200px;height:80px'>"
        "press</button></body>"
    )
    with Browser(width=400, height=300) as b:
        b.navigate(page.as_uri())
        assert b.evaluate("1 + 2") == 3
        assert b.evaluate("Promise.resolve('later')") == "later"
        b.click("#b")
        assert b.wait_for("document.getElementById('b').textContent === 'clicked'")
        with pytest.raises(BrowserError, match="nope"):
            b.evaluate("(() => { throw new Error('nope') })()")
        shot = b.screenshot(tmp_path / "shot.png")
        profile = b._profile
    with Image.open(shot) as img:
        assert img.size == (400, 300)
        assert img.convert("RGB").getpixel((390, 290)) == (20, 110, 70)
    assert profile is not None and not profile.exists()  # the profile is removed on close
