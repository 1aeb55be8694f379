"""Circuit breakers end to end in Dagster: a tripped partition fails its check with severity WARN
(the variants rendered before the trip are still scored and shortlisted), the team hears once on
Telegram, every later render run and render schedule stays stopped until `nightrun resume`, then
the night goes on."""

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import dagster as dg

from nightrun_dagster.cli.main import main
from nightrun_dagster.defs.assets.approval import telegram_review
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
from nightrun_dagster.defs.breakers import BreakersResource, resume_night_job
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.defs.schedules import window_schedule
from nightrun_dagster.night import breakers as b
from nightrun_dagster.night.clock import Phase, decide, read_plan
from nightrun_dagster.store.paths import Tree
from tests.telegram.fake_bot_api import FakeBotAPI

NIGHT = "2026-02-09"
STATIC = "verde-yerba-static-2026-02"
UI = "mitienda-checkout-ui-2026-02"
TOKEN = "123456:TEST-token-never-written"
CHAT = -100777


def job_run(instance, resources, key):
    return dg.materialize(
        [job_spec, variants, renders, scores, shortlist],
        instance=instance,
        partition_key=night_job_key(NIGHT, key),
        resources=resources,
        raise_on_error=False,
    )


def check(result) -> dg.AssetCheckEvaluation:
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert len(evaluations) == 1
    return evaluations[0]


def materialized(result) -> set[str]:
    return {
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }


def test_oom_breaker_stops_the_gpu_scores_what_rendered_notifies_once_and_latches(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator_factory
) -> None:
    server = emulator_factory(oom_every=2)  # every other execution runs out of memory
    pg_instance.add_dynamic_partitions("job", [STATIC, UI])
    with FakeBotAPI(TOKEN) as api:
        resources = {
            "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=12),
            "comfyui": ComfyUIResource(urls=server.url, poll_s=0.2),
            "breakers": BreakersResource(oom_max=3),
            "telegram": TelegramResource(
                token=TOKEN,
                signing_key="k" * 32,
                review_chat_id=CHAT,
                base_url=api.base_url,
                per_message_delay_s=0,
            ),
        }
        assert dg.materialize(
            [night_plan], instance=pg_instance, partition_key=NIGHT, resources=resources
        ).success

        first = job_run(pg_instance, resources, STATIC)
        evaluation = check(first)
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.metadata["breaker"].value == b.OOM
        # The partition is marked, but what rendered before the trip is scored and shortlisted.
        assert first.success
        assert materialized(first) == {"job_spec", "variants", "renders", "scores", "shortlist"}
        renders_meta = first.asset_materializations_for_node("renders")[0].metadata
        assert renders_meta["stopped"].value == "breaker"
        assert renders_meta["notified"].value == "sent to Telegram"
        assert renders_meta["breaker"].value == b.OOM
        rendered, pending = renders_meta["rendered"].value, renders_meta["pending"].value
        assert rendered > 0 and pending > 0
        assert f"{pending} variant(s) left" in renders_meta["cut_short"].value
        scores_meta = first.asset_materializations_for_node("scores")[0].metadata
        assert scores_meta["rendered"].value == scores_meta["scored"].value == rendered
        assert f"{pending} variant(s) left" in scores_meta["cut_short"].value
        short_meta = first.asset_materializations_for_node("shortlist")[0].metadata
        assert "gpu_oom" in short_meta["cut_short"].value
        shortlisted = tree.job(NIGHT, STATIC).selection / "shortlisted.json"
        assert json.loads(shortlisted.read_bytes())["picks"]
        sheet = (tree.job(NIGHT, STATIC).path / "contact_sheet.html").read_text()
        assert "Night cut short" in sheet and "gpu_oom" in sheet
        latch = b.read_latch(tree.root)
        assert latch.breaker == b.OOM and latch.value == 4  # the 4th OOM in 10 min tripped it
        assert latch.job == STATIC and latch.night == NIGHT
        record = tree.job(NIGHT, STATIC).breaker
        assert record.is_file() and "out-of-memory" in record.read_text()
        texts = [c.params["text"] for c in api.sent("sendMessage")]
        assert len(texts) == 1 and "gpu_oom" in texts[0] and TOKEN not in texts[0]

        # Another job of the night: stopped before its first submit, no second message; its
        # (empty) scores and shortlist still run, so the morning has every job's state.
        posted = server.stats()["prompts_posted"]
        second = job_run(pg_instance, resources, UI)
        assert not check(second).passed
        assert second.asset_materializations_for_node("renders")[0].metadata["rendered"].value == 0
        assert server.stats()["prompts_posted"] == posted
        assert len(api.sent("sendMessage")) == 1
        assert b.read_latch(tree.root).extra["notified"].startswith("telegram message")

        # The 23:00 schedule skips, naming the breaker.
        with dg.build_schedule_context(
            instance=pg_instance,
            scheduled_execution_time=datetime.fromisoformat("2026-02-09T23:00:00-03:00"),
            resources={"nightrun": resources["nightrun"]},
        ) as ctx:
            skipped = window_schedule.evaluate_tick(ctx)
        assert not skipped.run_requests and "gpu_oom" in skipped.skip_message

        # The 07:30 cool-down runs through the latch and says the night was cut short.
        plan = read_plan(tree, NIGHT)
        cool = decide(Phase.cool_down, NIGHT, plan=plan, latch=b.read_latch(tree.root))
        assert cool.skip is None and [r.phase for r in cool.requests] == [Phase.cool_down]
        summary_run = dg.materialize(
            [night_summary], instance=pg_instance, partition_key=NIGHT, resources=resources
        )
        assert summary_run.success
        left_ui = len(json.loads(tree.job(NIGHT, UI).variants_index.read_bytes())["variants"])
        cut = json.loads((tree.night(NIGHT) / "night_summary.json").read_bytes())["cut_short"]
        assert cut["breaker"] == b.OOM and cut["job"] == STATIC and cut["still_latched"]
        assert cut["tripped_at"] == latch.tripped_at
        assert cut["left_by_job"] == {STATIC: pending, UI: left_ui}
        assert cut["left"] == pending + left_ui
        summary_meta = summary_run.asset_materializations_for_node("night_summary")[0].metadata
        assert summary_meta["breaker"].value == b.OOM and summary_meta["left"].value == cut["left"]
        assert f"{cut['left']} variant(s) left" in summary_meta["cut_short"].value
        night_sheet = (tree.night(NIGHT) / "contact_sheet.html").read_text()
        assert "Night cut short: circuit breaker gpu_oom tripped at " + latch.tripped_at in (
            night_sheet
        )
        assert f"{cut['left']} variant(s) left" in night_sheet
        report = api.sent("sendMessage")[-1].params["text"]
        assert "Night cut short" in report and "gpu_oom" in report and latch.tripped_at in report
        assert f"{cut['left']} variant(s) left" in report

        # The review of what rendered: a note that the night was cut short comes first.
        review = dg.materialize(
            [telegram_review],
            instance=pg_instance,
            partition_key=night_job_key(NIGHT, STATIC),
            resources=resources,
        )
        assert review.success
        note = api.sent("sendMessage")[-1 - len(json.loads(shortlisted.read_bytes())["picks"])]
        assert note.params["text"].startswith(f"{STATIC}: Night cut short: circuit breaker gpu_oom")
        assert f"{pending} variant(s) left" in note.params["text"]
        review_meta = review.asset_materializations_for_node("telegram_review")[0].metadata
        assert "gpu_oom" in review_meta["cut_short"].value
        sent_before_resume = len(api.sent("sendMessage"))

        # A person resumes; with the GPU healthy again the job renders and is scored.
        assert main(["resume", "--root", str(tree.root), "--by", "ops"]) == 0
        assert b.read_latch(tree.root) is None
        server.set_faults(oom_every=0)
        third = job_run(pg_instance, resources, STATIC)
        assert third.success and check(third).passed
        assert {"scores", "shortlist"} <= materialized(third)
        assert not tree.job(NIGHT, STATIC).breaker.exists()
        assert len(api.sent("sendMessage")) == sent_before_resume


def test_resume_night_job_clears_the_latch(tree: Tree) -> None:
    b.latch(tree.root, b.Trip(b.DISK, "3 GB free", 3, 50), night=NIGHT, job=None)
    result = resume_night_job.execute_in_process(
        resources={"nightrun": NightrunResource(root=str(tree.root))},
        run_config={"ops": {"clear_breaker_latch": {"config": {"by": "ana"}}}},
    )
    assert result.success
    assert b.read_latch(tree.root) is None
    history = b.history_path(tree.root).read_text()
    assert '"breaker": "disk_free"' in history and "ana" in history


def test_a_restart_loop_stops_the_gpu_and_the_morning_still_has_its_results(
    pg_instance: dg.DagsterInstance, tree: Tree, queued_examples: list[Path], emulator_factory
) -> None:
    restart_max = BreakersResource().restart_max  # more outages than this in the window trip
    down_ms = 400
    server = emulator_factory(render_ms=100, restart_down_ms=down_ms)
    pg_instance.add_dynamic_partitions("job", [STATIC, UI])
    resources = {
        "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=30),
        # Patience and back-off scaled down: each restart is ridden out, the loop is not.
        "comfyui": ComfyUIResource(
            urls=server.url, poll_s=0.1, outage_patience_s=20 * down_ms / 1000, backoff_max_s=0.1
        ),
        "breakers": BreakersResource(),
        "telegram": TelegramResource(),
    }
    assert dg.materialize(
        [night_plan], instance=pg_instance, partition_key=NIGHT, resources=resources
    ).success

    def restart_loop() -> None:
        # One restart after each new render, one more than the breaker tolerates.
        for _ in range(restart_max + 1):
            seen = server.stats()["successes"]
            deadline = time.monotonic() + 30
            while server.stats()["successes"] <= seen and time.monotonic() < deadline:
                time.sleep(0.02)
            server.restart(down_ms=down_ms, wait=True)

    restarts = threading.Thread(target=restart_loop, daemon=True)
    restarts.start()
    first = job_run(pg_instance, resources, STATIC)
    restarts.join(timeout=60)
    latch = b.read_latch(tree.root)
    assert latch is not None and latch.breaker == b.RESTART_LOOP, latch
    assert first.success
    assert {"scores", "shortlist"} <= materialized(first)
    meta = first.asset_materializations_for_node("renders")[0].metadata
    rendered, pending = meta["rendered"].value, meta["pending"].value
    assert rendered > 0 and pending > 0
    scored = first.asset_materializations_for_node("scores")[0].metadata["scored"].value
    assert scored == rendered

    # 07:30: the cool-down runs through the latch and reports what rendered and what was left.
    cool = decide(Phase.cool_down, NIGHT, plan=read_plan(tree, NIGHT), latch=latch)
    assert cool.skip is None
    assert dg.materialize(
        [night_summary], instance=pg_instance, partition_key=NIGHT, resources=resources
    ).success
    summary = json.loads((tree.night(NIGHT) / "night_summary.json").read_bytes())
    (job,) = [j for j in summary["jobs"] if j["job"] == STATIC]
    assert job["rendered"] == rendered and job["shortlisted"] > 0
    assert summary["cut_short"]["breaker"] == b.RESTART_LOOP
    assert summary["cut_short"]["left_by_job"][STATIC] == pending
    assert "restart_loop" in (tree.night(NIGHT) / "contact_sheet.html").read_text()
