"""`nightrun cost`: refit the render cost model from the past nights, write it, and show what a
render of each template costs (a table, or the document as one JSON object with --json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nightrun_dagster.cli.jobs import WORKFLOWS_DIR_HELP
from nightrun_dagster.cli.user_input import (
    UserInputError,
    add_root_argument,
    nonnegative_int,
    os_reason,
)
from nightrun_dagster.night.window import night_ahead, parse_night
from nightrun_dagster.plan.cost_model import CostModel
from nightrun_dagster.plan.cost_samples import DEFAULT_LOOKBACK_NIGHTS, learn_costs
from nightrun_dagster.store.cost_docs import CostEntry, CostModelDocument, write_cost_model
from nightrun_dagster.store.models import dump_document
from nightrun_dagster.store.paths import Tree, default_root
from nightrun_dagster.workflows.templates import (
    Template,
    default_workflows_dir,
    template_registry,
)

EXIT_CANNOT_WRITE = 1
COLUMNS = (
    "template",
    "version",
    "endpoint",
    "s/render",
    "s/unit",
    "intercept",
    "samples",
    "left out",
    "nights",
    "source",
    "fit err",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Refit the render cost model from the nights before --night (renders that went fine at "
        "full quality), write it to <root>/costs/cost_model.json and show seconds per render "
        "at each template's default shape, per endpoint."
    )
    add_root_argument(p)
    p.add_argument("--workflows-dir", type=Path, help=WORKFLOWS_DIR_HELP)
    p.add_argument("--template", metavar="ID", help="show only this template")
    p.add_argument(
        "--night", help="learn from the nights before this one (default: the night ahead)"
    )
    p.add_argument(
        "--lookback",
        type=nonnegative_int,
        default=DEFAULT_LOOKBACK_NIGHTS,
        help=f"past nights to learn from (default {DEFAULT_LOOKBACK_NIGHTS})",
    )
    p.add_argument("--json", action="store_true", help="print the document as one JSON object")


def _night(text: str | None) -> str:
    if text is None:
        return night_ahead()
    try:
        return parse_night(text).isoformat()
    except ValueError as exc:
        raise UserInputError("--night", str(exc)) from None


def _only(doc: CostModelDocument, template_id: str | None) -> CostModelDocument:
    if template_id is None:
        return doc
    return doc.model_copy(
        update={
            "entries": [e for e in doc.entries if e.template_id == template_id],
            "priors": [p for p in doc.priors if p.template_id == template_id],
        }
    )


def _left_out(entry: CostEntry) -> str:
    """The renders the fit did not use: cold ones (models loaded first) and outliers."""
    parts = [f"{entry.cold} cold"] if entry.cold else []
    parts += [f"{entry.outliers} slow"] if entry.outliers else []
    return ", ".join(parts) or "-"


def rows(doc: CostModelDocument, templates: dict[str, Template]) -> list[tuple[str, ...]]:
    """One row per fitted (template, version, endpoint), one per template with none (its
    prior); seconds per render at the template's default shape."""
    model = CostModel(doc)
    units_at = {(p.template_id, p.version): p.units_at_default for p in doc.priors}
    out: list[tuple[str, ...]] = []
    for e in doc.entries:
        units = units_at.get((e.template_id, e.version))
        at_default = f"{e.seconds(units):.2f}" if units is not None else "-"
        out.append(
            (
                e.template_id,
                e.version,
                e.endpoint,
                at_default,
                f"{e.per_unit_s:.3f}",
                f"{e.intercept_s:.2f}",
                str(e.samples),
                _left_out(e),
                str(len(e.nights)),
                f"measured ({e.method})",
                f"{e.mae_pct:.1f} %",
            )
        )
    fitted = {(e.template_id, e.version) for e in doc.entries}
    for p in doc.priors:
        if (p.template_id, p.version) in fitted:
            continue
        est = model.estimate(p.template_id, p.version, p.units_at_default)
        source = str(est.source) if est.source != p.source else f"prior: {p.source}"
        out.append(
            (
                p.template_id,
                p.version,
                "-",
                f"{est.seconds:.2f}",
                f"{est.seconds / p.units_at_default:.3f}",
                "0.00",
                str(est.samples),
                "-",
                "0",
                source,
                "-",
            )
        )
    return sorted(out, key=lambda r: (r[0], r[1], r[2]))


def table(lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in lines)) for i, c in enumerate(COLUMNS)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in (COLUMNS, *lines))


def command(args: argparse.Namespace) -> int:
    root = (args.root or default_root()).resolve()
    if not root.is_dir():
        raise UserInputError(
            f"artifact root {root}", "no such folder (check --root, $NIGHTRUN_ROOT)"
        )
    night = _night(args.night)
    registry = template_registry(args.workflows_dir or default_workflows_dir())
    templates = dict(registry.templates)
    tree = Tree(root)
    doc = learn_costs(tree, templates, before_night=night, lookback_nights=args.lookback)
    known = sorted({*templates, *(e.template_id for e in doc.entries)})
    if args.template is not None and args.template not in known:
        raise UserInputError(
            f"--template {args.template}",
            f"no such template (known: {', '.join(known) or 'none'})",
        )
    try:
        path = write_cost_model(tree, doc)
    except OSError as exc:
        where = exc.filename or tree.cost_model
        raise UserInputError(where, f"cannot write: {os_reason(exc)}", EXIT_CANNOT_WRITE) from exc
    shown = _only(doc, args.template)
    if args.json:
        print(json.dumps(dump_document(shown), sort_keys=True))
        return 0
    print(table(rows(shown, templates)))
    if not doc.entries:
        print(f"\nno measured renders in the nights before {night}: every template is on its prior")
    else:
        print(f"\nlearnt from nights {', '.join(doc.nights)} (before {night})")
    print(f"written: {path}")
    return 0
