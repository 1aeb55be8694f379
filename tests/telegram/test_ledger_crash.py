"""A crash at every byte of a ledger line: what the reviewers are told always matches the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.send import send_text
from nightrun_dagster.telegram.signing import artifact_id, sign
from nightrun_dagster.telegram.updates import PollResult
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.taps import ANA, BOB, CHAT, KEY, NOW, answer_to, poll

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
NIGHT = "2026-02-10"


def _line(decision: dict) -> bytes:
    """The bytes `ledger.record` appends for `decision` (checked once against the real thing)."""
    return orjson.dumps(decision) + b"\n"


def _cuts(line: bytes) -> list[tuple[int, bool]]:
    """Every prefix length of `line`, each without and with a newline written after it."""
    return [(k, nl) for k in range(len(line) + 1) for nl in (False, True)]


def _complete(line: bytes, k: int, nl: bool) -> bool:
    """Whether the crash left the whole line, newline included, in the ledger."""
    return k == len(line) or (k == len(line) - 1 and nl)


def _job(runs: Path, i: int) -> tuple[Path, str]:
    key = f"cut{i:04d}"
    job = ledger.job_dir_for(runs, NIGHT, key)
    art = artifact_id(NIGHT, key, "v0001")
    ledger.write_artifact_index(job, {art: {"night": NIGHT, "job_key": key, "variant_id": "v0001"}})
    return job, art


def _cut_ledger(job: Path, line: bytes, k: int, nl: bool) -> None:
    path = ledger.decisions_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(line[:k] + (b"\n" if nl else b""))


def _tap(api: FakeBotAPI, message_id: int, art: str, code: str, user_id: int, name: str) -> int:
    data = sign(code, art, int(NOW + 3600), KEY)
    return api.inject_callback(
        user_id=user_id, chat_id=CHAT, message_id=message_id, data=data, first_name=name
    )


def _poll_all(api: FakeBotAPI, token: str, runs: Path, offset: int | None) -> list[PollResult]:
    results = []
    while True:
        result = poll(api, token, runs, offset)
        results.append(result)
        if result.next_offset == offset:
            return results
        offset = result.next_offset


def _check_torn_side_file(job: Path, line: bytes, k: int, nl: bool) -> None:
    torn = ledger.torn_path(job)
    if not nl and 0 < k < len(line):
        assert torn.read_bytes() == line[:k] + b"\n"
    else:
        assert not torn.exists()
    assert ledger.decisions_path(job).read_bytes().endswith(b"\n")


def test_crash_while_writing_another_decision(api: FakeBotAPI, token: str, tmp_path: Path) -> None:
    """`nightrun approve` crashed mid-line; then Bob taps ❌ on the same candidate."""
    runs = tmp_path / "runs"
    message_id = send_text(token, CHAT, "candidate", base_url=api.base_url)

    def cli(job: Path, art: str) -> dict:
        return {
            "artifact": art,
            "night": NIGHT,
            "job_key": job.name.removeprefix("job_"),
            "variant_id": "v0001",
            "decision": "approve",
            "by": "marta",
            "via": "cli",
            "at": "2026-02-10T08:00:00+00:00",
        }

    scratch = tmp_path / "scratch"
    assert ledger.record(scratch, cli(*_job(runs, 0)))
    assert ledger.decisions_path(scratch).read_bytes() == _line(cli(*_job(runs, 0)))
    # Every line is as long: job keys and artifact ids have a fixed width.
    cuts = _cuts(_line(cli(*_job(runs, 0))))
    cases = []
    for i, (k, nl) in enumerate(cuts):
        job, art = _job(runs, i)
        line = _line(cli(job, art))
        assert len(line) == len(cuts) // 2 - 1
        _cut_ledger(job, line, k, nl)
        uid = _tap(api, message_id, art, "r", BOB, "Bob")
        cases.append((job, art, line, k, nl, uid))

    _poll_all(api, token, runs, None)
    for job, art, line, k, nl, uid in cases:
        first = ledger.find(job, art)
        assert first is not None, (k, nl)
        if _complete(line, k, nl):
            assert first["by"] == "marta"
            assert answer_to(api, uid) == ["Already decided: approve by marta"], (k, nl)
        else:
            assert (first["decision"], first["update_id"]) == ("reject", uid), (k, nl)
            assert answer_to(api, uid) == [f"Rejected ❌ by Bob at {first['at']}"], (k, nl)
        # Terminated, so no later append can turn a fragment into a decision.
        _check_torn_side_file(job, line, k, nl)
        assert [d["artifact"] for d in ledger.read(job)] == [art]


def test_crash_while_writing_the_taps_own_decision(
    api: FakeBotAPI, token: str, tmp_path: Path
) -> None:
    """The sensor crashed mid-line of Ana's ✅, so it acknowledged nothing and answered nothing;
    Telegram delivers her tap again."""
    runs = tmp_path / "runs"
    message_id = send_text(token, CHAT, "candidate", base_url=api.base_url)
    at = datetime.fromtimestamp(NOW + 60, UTC).isoformat(timespec="seconds")

    def hers(job: Path, art: str, uid: int) -> bytes:
        # The line the poll writes for her tap; if this were not byte for byte what it writes,
        # the complete cases below would not be taken for replays.
        return _line(
            {
                "artifact": art,
                "night": NIGHT,
                "job_key": job.name.removeprefix("job_"),
                "variant_id": "v0001",
                "decision": "approve",
                "by": "Ana",
                "user_id": ANA,
                "via": "telegram",
                "at": at,
                "update_id": uid,
                "callback_id": api.callback_ids[uid],
            }
        )

    job, art = _job(runs, 0)
    # Ids have a steady width, so every line of hers is as long as this one.
    cuts = _cuts(hers(job, art, _tap(api, message_id, art, "a", ANA, "Ana")))
    cases = []
    for i, (k, nl) in enumerate(cuts):
        job, art = _job(runs, i)
        uid = _tap(api, message_id, art, "a", ANA, "Ana") if i else min(api.callback_ids)
        line = hers(job, art, uid)
        assert len(line) == len(cuts) // 2 - 1
        _cut_ledger(job, line, k, nl)
        cases.append((job, art, line, k, nl, uid))

    results = _poll_all(api, token, runs, None)
    replays = {uid for r in results for uid, reason in r.ignored if reason == "replayed update"}
    for job, art, line, k, nl, uid in cases:
        assert [d["artifact"] for d in ledger.read(job)] == [art], (k, nl)
        decision = ledger.find(job, art)
        assert (decision["update_id"], decision["decision"]) == (uid, "approve"), (k, nl)
        assert ledger.decisions_path(job).read_bytes().count(line) == 1, (k, nl)
        assert answer_to(api, uid) == [f"Approved ✅ by Ana at {decision['at']}"], (k, nl)
        assert (uid in replays) == _complete(line, k, nl), (k, nl)
        _check_torn_side_file(job, line, k, nl)
