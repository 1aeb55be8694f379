"""The demo's run launcher: a run of one of the code location's named jobs, executed in this
process but recorded as the daemon records it, under the workspace's code location."""

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

# Public Dagster launches runs through a workspace (webserver, daemon) or, in process, without a
# code location (`execute_in_process`), whose runs neither the Jobs page nor the Overview
# timeline lists. The demo creates each run with the workspace's origin, then executes it here.
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    CodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import InstigatorType, TickData, TickStatus
from dagster._core.storage.tags import RUN_KEY_TAG
from dagster._core.workspace.load import (
    location_origin_from_module_name,
    location_origins_from_yaml_paths,
)

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / "workspace.yaml"
DEFINITIONS_MODULE = "nightrun_dagster.definitions"
LOCATION_NAME = "nightrun_dagster"  # without workspace.yaml: the name it gives the location
REPOSITORY_NAME = "__repository__"  # the one repository of a Definitions object


def code_location(workspace: Path = WORKSPACE) -> CodeLocationOrigin:
    """The code location workspace.yaml loads the definitions module as (`dagster dev` lists a
    run under its name); the module's own origin when the project runs without the file."""
    if workspace.is_file():
        for origin in location_origins_from_yaml_paths([str(workspace)]):
            target = getattr(origin, "loadable_target_origin", None)
            if target is not None and target.module_name == DEFINITIONS_MODULE:
                return origin
    return location_origin_from_module_name(
        DEFINITIONS_MODULE, None, str(REPO), LOCATION_NAME, sys.executable
    )


@dataclass
class Finished:
    """A run once it ended: its status, its materializations' metadata and its first failure."""

    run: dg.DagsterRun
    seconds: float
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # asset -> metadata
    failure: Any = None  # the first step failure's DagsterEvent, if any

    @property
    def success(self) -> bool:
        return self.run.status == dg.DagsterRunStatus.SUCCESS


class Launcher:
    """Creates and runs the named jobs of `defs` on `instance`, in this process, and records
    the schedule and sensor ticks that asked for them, as the daemon does."""

    def __init__(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, location: CodeLocationOrigin
    ) -> None:
        self.defs, self.instance = defs, instance
        self.repository = RemoteRepositoryOrigin(location, REPOSITORY_NAME)

    def create(
        self, job_name: str, tags: Mapping[str, str], run_config: Mapping[str, Any] | None = None
    ) -> dg.DagsterRun:
        """A run of the job, not started yet: its partition and everything else in `tags` (as
        a schedule's resolved RunRequest carries them)."""
        return self.instance.create_run_for_job(
            self.defs.resolve_job_def(job_name),
            run_config=run_config,
            tags=dict(tags),
            remote_job_origin=RemoteJobOrigin(self.repository, job_name),
        )

    def execute(self, run: dg.DagsterRun) -> Finished:
        """Run it here, step after step; what it materialized and why it failed, if it did."""
        started = time.monotonic()
        execute_run(InMemoryJob(self.defs.resolve_job_def(run.job_name)), run, self.instance)
        seconds = time.monotonic() - started
        done = Finished(self.instance.get_run_by_id(run.run_id) or run, seconds)
        for entry in self.instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ):
            event = entry.asset_materialization
            if event is not None:
                done.metadata[event.asset_key.to_user_string()] = {
                    k: v.value for k, v in event.metadata.items()
                }
        failures = self.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        if failures:
            done.failure = failures[0].dagster_event
        return done

    def record_tick(
        self,
        name: str,
        when: datetime,
        runs: Sequence[dg.DagsterRun],
        *,
        sensor: bool = False,
        skipped: str | None = None,
    ) -> None:
        """The tick of a schedule (or sensor) at `when`: the runs it requested, or why it
        skipped; the UI shows it in the schedule's tick history."""
        origin = self.repository.get_instigator_origin(name)
        self.instance.create_tick(
            TickData(
                instigator_origin_id=origin.get_id(),
                instigator_name=name,
                instigator_type=InstigatorType.SENSOR if sensor else InstigatorType.SCHEDULE,
                status=TickStatus.SKIPPED if skipped is not None else TickStatus.SUCCESS,
                timestamp=when.timestamp(),
                end_timestamp=when.timestamp(),
                run_ids=[r.run_id for r in runs],
                run_keys=[r.tags[RUN_KEY_TAG] for r in runs if RUN_KEY_TAG in r.tags],
                skip_reason=skipped,
                selector_id=origin.get_selector().get_id(),
            )
        )
