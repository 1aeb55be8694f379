"""The demo's runs are recorded under the code location `dagster dev` loads from workspace.yaml."""

from pathlib import Path

from nightrun_dagster.cli.demo_runs import LOCATION_NAME, code_location

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def test_runs_belong_to_the_workspaces_code_location(tmp_path: Path) -> None:
    origin = code_location(WORKSPACE)
    assert origin.location_name == LOCATION_NAME
    assert origin.loadable_target_origin.module_name == "nightrun_dagster.definitions"
    # A workspace naming the location otherwise: the UI lists the runs under that name.
    renamed = tmp_path / "workspace.yaml"
    renamed.write_text(
        WORKSPACE.read_text("utf-8").replace(
            f"location_name: {LOCATION_NAME}", "location_name: nightly"
        ),
        "utf-8",
    )
    assert code_location(renamed).location_name == "nightly"
    # Without the file (an installed project), the name workspace.yaml gives it.
    assert code_location(tmp_path / "missing.yaml").location_name == LOCATION_NAME
