"""Originals of approved candidates: sent once per decision, in reply to the candidate message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nightrun_dagster.store.telegram_docs import read_originals_sent
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.originals import send_originals
from nightrun_dagster.telegram.send import SendReport
from tests.telegram.fake_bot_api import FakeBotAPI

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def _render(job: Path, variant: str, data: bytes | None) -> None:
    """Give `variant` a full-resolution render (written when `data` is given)."""
    params_path = job / "variants" / variant / "meta" / "params.json"
    params = json.loads(params_path.read_text())
    params["render"] = {"outputs": [{"file": "out/img_0001.png"}]}
    params_path.write_text(json.dumps(params))
    if data is not None:
        (job / "variants" / variant / "out" / "img_0001.png").write_bytes(data)


def _decide(job: Path, art: str, variant: str, decision: str) -> None:
    assert ledger.record(
        job,
        {
            "artifact": art,
            "night": "2026-02-10",
            "job_key": "shoes-2026",
            "variant_id": variant,
            "decision": decision,
            "by": "@ana",
            "via": "telegram",
            "at": "2026-02-11T09:00:00+00:00",
        },
    )


def test_each_approval_gets_its_original_once(
    api: FakeBotAPI, sent: SendReport, token: str
) -> None:
    job = sent.job_dir
    arts = list(sent.candidates)
    for n, decision in enumerate(("approve", "favorite", "reject")):
        variant = f"v{n + 1:04d}"
        _render(job, variant, f"original {variant}".encode())
        _decide(job, arts[n], variant, decision)
    api.fail_next(1, retry_after=1, methods={"sendDocument"})
    report = send_originals(token, job, base_url=api.base_url, per_message_delay=0)
    assert report.sent == arts[:2] and report.retries == 1 and report.missing == {}
    assert [d["data"] for d in api.documents] == [b"original v0001", b"original v0002"]
    assert [d["reply_to"] for d in api.documents] == [sent.candidates[a] for a in arts[:2]]
    record = read_originals_sent(job).originals()
    assert set(record) == set(arts[:2])

    again = send_originals(token, job, base_url=api.base_url, per_message_delay=0)
    assert again.sent == [] and again.already_sent == 2
    assert len(api.documents) == 2


def test_missing_original_is_sent_once_it_exists(
    api: FakeBotAPI, sent: SendReport, token: str
) -> None:
    job = sent.job_dir
    art = next(iter(sent.candidates))
    _render(job, "v0001", None)
    _decide(job, art, "v0001", "approve")
    first = send_originals(token, job, base_url=api.base_url, per_message_delay=0)
    assert first.sent == [] and list(first.missing) == [art] and api.documents == []
    (job / "variants" / "v0001" / "out" / "img_0001.png").write_bytes(b"late render")
    later = send_originals(token, job, base_url=api.base_url, per_message_delay=0)
    assert later.sent == [art] and [d["data"] for d in api.documents] == [b"late render"]
