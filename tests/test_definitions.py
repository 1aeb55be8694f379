"""Loading every definition as `dagster dev` and the daemon do; the production instance."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg

from nightrun_dagster.definitions import build_defs, defs

REPO = Path(__file__).resolve().parents[1]


def test_all_definitions_load() -> None:
    repo = defs.get_repository_def()
    assert {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()} == {
        "warm_up",
        "night_plan",
        "job_spec",
        "variants",
        "renders",
        "scores",
        "shortlist",
        "night_summary",
        "telegram_review",
        "approvals",
        "publish_packages",
        "night_cleanup",
        "night_close",
        "retention",
        "recipe_library",
    }
    assert {j.name for j in repo.get_all_jobs()} >= {
        "plan_night",
        "plan_jobs",
        "night_jobs",
        "summarize_night",
        "cool_down",
        "close_night",
        "maintenance",
        "learning",
        "resume_night",
    }
    assert sorted(s.name for s in repo.sensor_defs) == [
        "approval_sensor",
        "job_queue_sensor",
        "run_failure_alert",
    ]
    # Cron times and targets: tests/defs/test_schedules.py.
    assert len(repo.schedule_defs) == 9
    checks = {k.name for k in repo.asset_graph.asset_check_keys}
    assert {"circuit_breakers", "warm_up"} <= checks
    variants = repo.assets_defs_by_key[dg.AssetKey("variants")]
    dims = {d.name for d in variants.partitions_def.partitions_defs}
    assert dims == {"night", "job"}
    renders = repo.assets_defs_by_key[dg.AssetKey("renders")]
    assert renders.op.pool == "comfyui_gpu"  # one GPU prompt stream per endpoint
    # The warm-up's preload prompt is GPU work too: it waits for the pool like a render.
    assert repo.assets_defs_by_key[dg.AssetKey("warm_up")].op.pool == "comfyui_gpu"
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("variants")).parent_keys == {
        dg.AssetKey("job_spec"),
        dg.AssetKey("night_plan"),
    }


def test_root_is_made_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    resource = build_defs(Path("rel/root")).resources["nightrun"]
    assert Path(resource.root) == tmp_path / "rel" / "root"


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    env = {**os.environ, "DAGSTER_HOME": str(home), "NIGHTRUN_ROOT": str(tmp_path / "root")}
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Validation successful for code location nightrun_dagster" in output
    ours = [line for line in output.splitlines() if "nightrun_dagster/" in line]
    assert ours == [], ours


def test_production_dagster_yaml_runs_on_postgres(
    tmp_path: Path, postgres_database: str, monkeypatch
) -> None:
    url = urlparse(postgres_database)
    monkeypatch.setenv("DAGSTER_PG_USERNAME", url.username or "")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    monkeypatch.setenv("DAGSTER_PG_HOST", url.hostname or "")
    monkeypatch.setenv("DAGSTER_PG_DB", url.path.lstrip("/"))
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port))
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        instance.add_dynamic_partitions("job", ["probe"])
        assert instance.get_dynamic_partitions("job") == ["probe"]
        settings = instance.get_concurrency_config()
        # One step submitting, the next two connected and waiting for the GPU turn, one of the
        # next phase connected ahead of them.
        assert settings.pool_config.default_pool_limit == 4
        assert settings.pool_config.pool_granularity.value == "op"
