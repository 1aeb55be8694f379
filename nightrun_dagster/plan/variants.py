"""Writing a job's variants: one `variants/vNNNN/meta/params.json` each, plus an index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightrun_dagster.expand.variants import Expansion
from nightrun_dagster.intake.planned import params_document
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.store.atomic import atomic_write_bytes, write_new_tree
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variant_docs import PARAMS, VariantParams, params_bytes
from nightrun_dagster.store.variants_index import (
    VariantsIndex,
    variants_index_bytes,
    write_variants_index,
)


class VariantConflict(RuntimeError):
    """A variant folder already holds renders made with different parameters."""


@dataclass(frozen=True)
class WriteReport:
    written: int
    unchanged: int


def write_variants(found: ValidJob, expansion: Expansion, job_dir: JobDir) -> WriteReport:
    """Write every variant's params.json. A first plan builds the whole `variants/` folder at
    once; later plans leave identical files alone and replace a different one only while that
    variant has no outputs, so renders never lose their parameters."""
    index = _index_document(found, expansion)
    if not job_dir.variants.exists():
        files = [
            (
                job_dir.params(v.variant_id).relative_to(job_dir.variants).as_posix(),
                params_bytes(VariantParams.model_validate(params_document(found, expansion, v))),
            )
            for v in expansion.variants
        ]
        files.append((job_dir.variants_index.name, variants_index_bytes(index)))
        write_new_tree(job_dir.variants, files)
        return WriteReport(len(expansion.variants), 0)
    written = unchanged = 0
    for variant in expansion.variants:
        path = job_dir.params(variant.variant_id)
        data = params_bytes(
            VariantParams.model_validate(params_document(found, expansion, variant))
        )
        if path.is_file():
            existing = path.read_bytes()
            if existing == data or _planned_part(path, existing) == _planned_part(path, data):
                unchanged += 1
                continue
            out = job_dir.out(variant.variant_id)
            if out.is_dir() and any(out.iterdir()):
                raise VariantConflict(
                    f"{path}: variant {variant.variant_id} was already rendered with other "
                    "parameters; move its job folder aside to plan this night again"
                )
        atomic_write_bytes(path, data)
        written += 1
    write_variants_index(job_dir, index)
    return WriteReport(written, unchanged)


def _index_document(found: ValidJob, expansion: Expansion) -> VariantsIndex:
    return VariantsIndex(
        job_id=found.job.job_id,
        night=expansion.night,
        mode=expansion.mode.value,
        cap=expansion.cap,
        sweep_size=expansion.sweep_size,
        selection=expansion.selection,
        # The bandit's per-arm budgets this selection followed (None: one selection overall).
        arm_budgets=None if expansion.arm_budgets is None else dict(expansion.arm_budgets),
        count=len(expansion.variants),
        variants=[v.variant_id for v in expansion.variants],
        extra=expansion.extra,
        reserve=[
            v.variant_id for v in expansion.variants[len(expansion.variants) - expansion.reserve :]
        ]
        if expansion.reserve
        else [],
    )


def _planned_part(path: Path, data: bytes) -> dict[str, Any] | None:
    # Later stages add keys (e.g. "render") to params.json; only what we planned must match.
    # A damaged file matches nothing: it is replaced unless the variant has outputs.
    try:
        return PARAMS.file.parse(path, data).plan()
    except ValueError:
        return None
