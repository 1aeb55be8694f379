"""A night tree written by an older nightrun (`tests/data/old_night`, see its README) still
works: every document reads through `store/`, and the CLI, the contact sheets and the Dagster
assets that need no ComfyUI run on it."""

import csv
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.contact.page import score as sheet_score
from nightrun_dagster.contact.sheet import SHEET_NAME, write_night_sheet
from nightrun_dagster.defs.assets.approval import approvals, publish_packages, telegram_review
from nightrun_dagster.defs.assets.learning import recipe_library
from nightrun_dagster.defs.assets.maintenance import retention
from nightrun_dagster.defs.assets.night_close import night_cleanup, night_close
from nightrun_dagster.defs.assets.planning import variants
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.expand.arms import params_arm_key
from nightrun_dagster.learning.bandit import ArmStats, arm_evidence
from nightrun_dagster.night.breakers import read_latch
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.publish_docs import try_read_package_manifest
from nightrun_dagster.store.telegram_docs import artifact_index_path
from nightrun_dagster.telegram import ledger
from tests.contact.browser import Browser
from tests.store.old_night_docs import PRODUCT, RETENTION_DAY, raw, read_every_document
from tests.telegram.fake_bot_api import FakeBotAPI

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "old_night"
NIGHT = "2026-11-28"
STATIC, UI, REEL = (
    "verde-yerba-static-2026-02",
    "mitienda-checkout-ui-2026-02",
    "verde-teaser-reel-2026-02",
)
KEYS = (STATIC, UI, REEL)
# The bot and chat the old version sent the static job's review to (a fake Bot API's).
TOKEN = "424242:AAH-fake-Secret_token-value-0123456789"
CHAT = -1001234
OUTPUT = {STATIC: "out/img_0001.png", UI: "out/img_0001.png", REEL: "out/vid_0001.mp4"}
PACKAGES = {
    STATIC: {"FB_feed_1x1_1080x1080.png", "IG_feed_4x5_1080x1350.png", "IG_story_1080x1920.png"},
    UI: {"IG_feed_4x5_1080x1350.png", "FB_feed_4x5_1080x1350.png"},
    REEL: {"IG_reel_1080x1920.mp4"},
}


@pytest.fixture
def old_tree(tmp_path: Path) -> Tree:
    """A copy of the old night's root: tests change their copy, never the fixture."""
    root = tmp_path / "night-runs"
    shutil.copytree(FIXTURE, root)
    return Tree(root)


def old_total(job_dir: JobDir) -> float:
    return raw(job_dir.variant_dir("v0001").score)["total"]


def test_the_fixture_is_as_the_old_version_wrote_it() -> None:
    # Byte for byte what the old version wrote (SHA256SUMS: `sha256sum -c` in the fixture).
    listed = {}
    for line in (FIXTURE / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    files = {
        p.relative_to(FIXTURE).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in FIXTURE.rglob("*")
        if p.is_file() and p.name not in ("README.md", "SHA256SUMS")
    }
    assert files == listed
    # No document of the old night carries a schema number: each reads as schema 1.
    docs = [p for p in FIXTURE.rglob("*.json") if "inputs" not in p.parts]
    assert len(docs) > 30
    assert all("schema" not in raw(p) for p in docs if isinstance(raw(p), dict))
    assert not list(FIXTURE.rglob("publish")) and not list(FIXTURE.rglob(SHEET_NAME))


def test_every_document_of_the_old_tree_reads_through_the_store(old_tree: Tree) -> None:
    read = read_every_document(old_tree, NIGHT, KEYS)
    # Every JSON document of the tree was read by its store function (a kind added to the
    # fixture without a reader fails here).
    documents = {p for p in old_tree.root.rglob("*") if p.suffix in (".json", ".jsonl")}
    assert documents - read == set()
    assert read - documents == set()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_reads_the_old_tree(old_tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(old_tree.root)
    for key in KEYS:
        job_dir = old_tree.job(NIGHT, key)
        job_file = str(job_dir.job_snapshot)
        code, out, err = run_cli(capsys, "validate", job_file)
        assert code == 0 and f"job key '{key}'" in out, err
        # The graph built from the old night's params is the one the old render loop sent.
        code, out, err = run_cli(
            capsys, "graph", job_file, "--root", root, "--night", NIGHT, "--all"
        )
        assert code == 0, err
        assert "using the variants planned for night 2026-11-28" in err
        lines = [json.loads(line) for line in out.splitlines()]
        assert [line["variant"] for line in lines] == ["v0001"]
        assert lines[0]["graph"] == raw(job_dir.variant_dir("v0001").prompt)
        # Scoring the old render again gives the total the old scorer recorded.
        output = str(job_dir.variant("v0001") / OUTPUT[key])
        code, out, err = run_cli(
            capsys, "score", "--job", job_file, "--root", root, "--json", output
        )
        assert code == 0, err
        assert json.loads(out)["total"] == pytest.approx(old_total(job_dir), abs=0.01)

    # The old latch reads, shows and clears; the old history line stays as it was.
    history = old_tree.breaker_history
    old_history = history.read_bytes()
    code, out, err = run_cli(capsys, "resume", "--root", root, "--status")
    assert code == 0, err
    assert "circuit breaker failure_rate latched" in out and f"job {UI}" in out
    code, out, err = run_cli(capsys, "resume", "--root", root, "--by", "ana")
    assert code == 0, err
    assert "failure_rate" in out
    assert read_latch(old_tree.root) is None
    assert history.read_bytes().startswith(old_history)
    entries = [json.loads(line) for line in history.read_bytes().splitlines()]
    assert [(e["breaker"], e["resumed_by"]) for e in entries] == [
        ("disk", "ops@night"),
        ("failure_rate", "ana"),
    ]

    # Retention's dry run: every old variant is protected by its old approval.
    before = {p: p.read_bytes() for p in old_tree.root.rglob("*") if p.is_file()}
    code, out, err = run_cli(
        capsys, "clean", "--root", root, "--dry-run", "--today", "2026-12-10", "--keep-top-k", "0",
        "--days", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["dry_run"] is True and report["deleted"] == []
    assert report["plan"]["nights"] == [NIGHT]
    protected = {j["job_key"]: j["protected"] for j in report["plan"]["jobs"]}
    assert protected == {key: {"v0001": ["approved"]} for key in KEYS}
    assert {p: p.read_bytes() for p in old_tree.root.rglob("*") if p.is_file()} == before

    # The short id of the old Telegram message resolves through the old artifact index, and the
    # old ledger's decision stands: a pick is decided once.
    static = old_tree.job(NIGHT, STATIC)
    (artifact,) = raw(artifact_index_path(static))
    decisions = ledger.decisions_path(static.path)
    old_ledger = decisions.read_bytes()
    for ref in (artifact, f"{NIGHT}/{STATIC}/v0001"):
        code, out, err = run_cli(capsys, "favorite", ref, "--by", "ana", "--root", root)
        assert code == 1 and "already decided: approve by demo" in err, err
    assert decisions.read_bytes() == old_ledger


def open_sheet(browser: Browser, path: Path) -> dict[str, Any]:
    """The sheet's cards (variant id -> badge) and text, as Chromium shows them."""
    browser.navigate(path.resolve().as_uri())
    browser.wait_for("document.body.dataset.ready === '1'")
    return browser.evaluate(
        """(() => ({
          cards: [...document.querySelectorAll('article.card')].map(c => [
            (c.dataset.job || '') + '/' + c.dataset.id, c.querySelector('.badge').textContent]),
          text: document.body.innerText,
        }))()"""
    )


def test_contact_sheets_regenerate_from_the_old_tree(old_tree: Tree, chromium: Browser) -> None:
    night_dir = old_tree.night(NIGHT)
    night_page = write_night_sheet(night_dir)
    for key in KEYS:
        job_dir = old_tree.job(NIGHT, key)
        sheet = job_dir.path / SHEET_NAME
        html = sheet.read_text(encoding="utf-8")
        assert "v0001" in html and sheet_score(old_total(job_dir)) in html
        shown = open_sheet(chromium, sheet)
        assert shown["cards"] == [[f"{key}/v0001", sheet_score(old_total(job_dir))]]
    # What the old stop records say reaches the pages.
    static = open_sheet(chromium, old_tree.job(NIGHT, STATIC).path / SHEET_NAME)
    assert "blocked: missing model(s) on the server: sdxl_base_1.0.safetensors" in static["text"]
    ui = open_sheet(chromium, old_tree.job(NIGHT, UI).path / SHEET_NAME)
    assert "circuit breaker failure_rate" in ui["text"]
    night = open_sheet(chromium, night_page)
    assert sorted(night["cards"]) == sorted(
        [f"{key}/v0001", sheet_score(old_total(old_tree.job(NIGHT, key)))] for key in KEYS
    )
    assert all(key in night["text"] for key in KEYS)


def test_the_assets_materialize_on_the_old_night(
    pg_instance: dg.DagsterInstance, old_tree: Tree
) -> None:
    pg_instance.add_dynamic_partitions("job", list(KEYS))
    nightrun = NightrunResource(root=str(old_tree.root), queue_settle_seconds=0)
    resources = {"nightrun": nightrun, "telegram": TelegramResource()}  # Telegram off
    old = {key: raw(old_tree.job(NIGHT, key).shortlisted) for key in KEYS}
    for key in KEYS:
        job_dir = old_tree.job(NIGHT, key)
        total = old_total(job_dir)
        params = job_dir.params("v0001").read_bytes()
        result = dg.materialize(
            [variants, scores, shortlist, approvals, publish_packages],
            instance=pg_instance,
            partition_key=night_job_key(NIGHT, key),
            resources=resources,
            run_config={"ops": {"scores": {"config": {"force": True, "workers": 1}}}},
        )
        assert result.success, key
        # Planned again from the old night plan (mode, cap, the bandit's arm budgets): the same
        # variant, its old params.json (render record and all) left as it was.
        vmeta = result.asset_materializations_for_node("variants")[0].metadata
        assert (vmeta["count"].value, vmeta["written"].value, vmeta["unchanged"].value) == (1, 0, 1)
        assert job_dir.params("v0001").read_bytes() == params
        # Scored again by today's scorer (its file now has a schema number), from the old
        # params' render record and the old inputs snapshot: the same picture, the same total.
        score = raw(job_dir.variant_dir("v0001").score)
        assert "schema" in score and score["total"] == pytest.approx(total, abs=0.01)
        with (job_dir.selection / "scores.csv").open(newline="") as fh:
            table = list(csv.DictReader(fh))
        assert [r["variant_id"] for r in table] == ["v0001"]
        # The shortlist keeps the old variant with the same picture hash.
        picks = raw(job_dir.shortlisted)
        assert [p["variant_id"] for p in picks["picks"]] == ["v0001"]
        assert picks["phashes"] == old[key]["phashes"]
        # Approvals fold the old decisions ledger.
        approved = raw(job_dir.approved)
        assert approved["states"] == {"v0001": "approved"}
        assert [(a["variant_id"], a["by"]) for a in approved["approved"]] == [("v0001", "demo")]
        # The approved variant's publish package, every file its manifest lists present.
        package = job_dir.publish / "v0001"
        typed = try_read_package_manifest(package)
        assert typed is not None and typed.variant_id == "v0001"
        manifest = raw(package / "manifest.json")
        assert manifest["variant_id"] == "v0001" and manifest["source"]["file"] == OUTPUT[key]
        source = job_dir.variant("v0001") / OUTPUT[key]
        assert manifest["source"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        files = {f["file"] for f in manifest["formats"]}
        assert files == PACKAGES[key]  # as the old version packaged this approval
        assert all((package / f).is_file() for f in files)
        meta = result.asset_materializations_for_node("publish_packages")[0].metadata
        assert meta["packages"].value == 1

    summary = dg.materialize(
        [night_summary], instance=pg_instance, partition_key=NIGHT, resources=resources
    )
    assert summary.success
    digest = raw(old_tree.night_dir(NIGHT).night_summary)
    assert {j["job"]: (j["best"], j["shortlisted"]) for j in digest["jobs"]} == {
        key: ("v0001", 1) for key in KEYS
    }
    # The old latch and the UI job's old breaker.json: the night was cut short.
    assert digest["cut_short"]["breaker"] == "failure_rate"
    assert "failure_rate" in (old_tree.night(NIGHT) / SHEET_NAME).read_text()

    for asset in (night_cleanup, night_close):
        assert dg.materialize(
            [asset], instance=pg_instance, partition_key=NIGHT, resources=resources
        ).success
    assert raw(old_tree.night_dir(NIGHT).cleanup)["removed"] == []
    closed = raw(old_tree.night_closed(NIGHT))
    assert {j["job"]: (j["rendered"], j["left"], j["stopped_by"]) for j in closed["jobs"]} == {
        STATIC: (1, 0, "blocked"),
        UI: (1, 0, "breaker"),
        REEL: (1, 0, "window"),
    }
    assert closed["left_for_next_night"] == {} and closed["breaker"]["breaker"] == "failure_rate"

    # An earlier week, backfilled, leaves the old library where the planner reads it (its
    # until_night is later); the week that holds the old night writes it again.
    newest = (old_tree.library / "recipes.json").read_bytes()
    earlier = dg.materialize(
        [recipe_library],
        instance=pg_instance,
        partition_key="2026-11-15",
        resources={"nightrun": nightrun},
    )
    assert earlier.success
    emeta = earlier.asset_materializations_for_node("recipe_library")[0].metadata
    assert emeta["latest"].value is False
    assert (old_tree.library / "recipes.json").read_bytes() == newest
    library = dg.materialize(
        [recipe_library],
        instance=pg_instance,
        partition_key="2026-11-22",
        resources={"nightrun": nightrun},
    )
    assert library.success
    lmeta = library.asset_materializations_for_node("recipe_library")[0].metadata
    assert (lmeta["products"].value, lmeta["recipes"].value, lmeta["approved"].value) == (1, 3, 3)
    assert lmeta["until_night"].value == NIGHT and lmeta["latest"].value is True

    # Retention as of 2026-12-02, the old report's day: the old night is old; all its variants
    # are protected and the approved and published ones are archived.
    old_report = raw(old_tree.retention_report(RETENTION_DAY))
    kept = dg.materialize(
        [retention],
        instance=pg_instance,
        partition_key="2026-12-01",
        resources={"nightrun": nightrun},
        run_config={"ops": {"retention": {"config": {"keep_top_k": 0, "keep_days": 1}}}},
    )
    assert kept.success
    rmeta = kept.asset_materializations_for_node("retention")[0].metadata
    assert rmeta["nights"].value == [NIGHT] and rmeta["deleted"].value == 0
    assert rmeta["archived"].value > 0
    assert "v0001 (approved/published)" in rmeta["jobs"].value
    # Today's run goes after the old version's run of the same day, which stays as it was.
    report = raw(old_tree.retention_report(RETENTION_DAY))
    assert report["date"] == RETENTION_DAY and len(report["runs"]) == 2
    assert report["runs"][0] == old_report["runs"][0]
    for key in KEYS:
        archived = old_tree.root / "archive" / NIGHT / f"job_{key}" / "v0001"
        assert (archived / OUTPUT[key]).read_bytes() == (
            old_tree.job(NIGHT, key).variant("v0001") / OUTPUT[key]
        ).read_bytes()


def test_the_old_review_is_not_sent_again(pg_instance: dg.DagsterInstance, old_tree: Tree) -> None:
    # The static job's shortlist and its approved original went to the review chat under the
    # old version (telegram_sent.json, originals_sent.json): nothing goes again.
    pg_instance.add_dynamic_partitions("job", [STATIC])
    with FakeBotAPI(TOKEN) as api:
        telegram = TelegramResource(
            token=TOKEN,
            signing_key="k" * 32,
            review_chat_id=CHAT,
            base_url=api.base_url,
            per_message_delay_s=0,
            poll_timeout_s=0,
        )
        result = dg.materialize(
            [telegram_review, approvals],
            instance=pg_instance,
            partition_key=night_job_key(NIGHT, STATIC),
            resources={"nightrun": NightrunResource(root=str(old_tree.root)), "telegram": telegram},
        )
        assert result.success
        review = result.asset_materializations_for_node("telegram_review")[0].metadata
        assert (review["already_sent"].value, review["messages_sent"].value) == (True, 0)
        approved = result.asset_materializations_for_node("approvals")[0].metadata
        assert approved["originals_sent_before"].value == 1
        assert approved["originals_sent"].value == 0
        assert api.calls == [] and api.documents == []


def test_the_bandit_learns_from_the_old_approvals(old_tree: Tree) -> None:
    evidence = arm_evidence(old_tree.root / "runs", "2026-12-03", product=PRODUCT)
    arms = {
        params_arm_key(raw(old_tree.job(NIGHT, key).params("v0001"))): ArmStats(1, 1)
        for key in KEYS
    }
    assert None not in arms and evidence == arms
