"""The contact sheet's templates: a jinja2 environment that escapes every value it prints, and the
inline stylesheet and script (package data) with the hashes the page's CSP allows them by."""

from __future__ import annotations

import base64
import hashlib
import json
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from jinja2.utils import htmlsafe_json_dumps

__all__ = ["embed_json", "render"]

_TEMPLATES = files("nightrun_dagster.contact") / "templates"

# The embedded rows keep their key order (the cards draw the component bars in that order) and
# stay strict JSON: no NaN, nothing escaped beyond what a <script> block needs.
_JSON = {"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False, "sort_keys": False}


def _asset(name: str) -> str:
    return _TEMPLATES.joinpath(name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CSS = _asset("sheet.css")
JS = _asset("sheet.js")


def score(x: float | None) -> str:
    """A 0..1 score as the page prints it: two decimals, or a dash when there is none."""
    return "–" if x is None else f"{x:.2f}"


_ENV = Environment(
    loader=PackageLoader("nightrun_dagster.contact", "templates"),
    autoescape=select_autoescape(("html", "html.j2"), default=True),
    # A variable the code forgot to pass fails the render instead of printing nothing.
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.policies["json.dumps_function"] = json.dumps
_ENV.policies["json.dumps_kwargs"] = _JSON
_ENV.filters["score"] = score
_ENV.globals.update(css=CSS, js=JS, css_sha256=_sha256(CSS), js_sha256=_sha256(JS))


def embed_json(payload: Any) -> str:
    """`payload` as the templates' `tojson` filter writes it into a JSON `<script>` block: `<`,
    `>`, `&` and `'` become \\u escapes, so no `</script>` or `<!--` in job text can end the block
    or start markup."""
    return str(htmlsafe_json_dumps(payload, dumps=json.dumps, **_JSON))


def render(template: str, **context: Any) -> str:
    """The page `template` (under templates/) rendered with `context`."""
    return _ENV.get_template(template).render(**context)
