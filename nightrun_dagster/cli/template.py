"""`nightrun template add | list | show`: bring your own ComfyUI workflow, see every template."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nightrun_dagster.cli.jobs import WORKFLOWS_DIR_HELP
from nightrun_dagster.cli.user_input import os_reason
from nightrun_dagster.comfy.client import ComfyClient, Timeouts
from nightrun_dagster.comfy.errors import ComfyError
from nightrun_dagster.comfy.warmup import server_catalogue
from nightrun_dagster.emulator.catalogue import real_catalogue
from nightrun_dagster.store.atomic import atomic_write_bytes
from nightrun_dagster.workflows.analysis import sweepable_parameters
from nightrun_dagster.workflows.apply import graph_summary
from nightrun_dagster.workflows.importer import (
    ImportReport,
    TemplateImportError,
    build_template,
    check_against_server,
    check_template_id,
)
from nightrun_dagster.workflows.roles import TWO_PASS_RULE
from nightrun_dagster.workflows.schemas import NodeSchemas
from nightrun_dagster.workflows.templates import (
    Template,
    TemplateError,
    default_workflows_dir,
    load_template,
    scan_templates,
)

SERVER_TIMEOUTS = Timeouts(connect=5.0, request=60.0)
EXIT_REFUSED = 1  # nothing was written
EXIT_SERVER_LACKS = 3  # written, but the server would refuse it until it has what is named
GRAPH_FAULTS = frozenset({"bad_value", "bad_link", "missing_input"})


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="template_command", required=True, metavar="ACTION")
    a = sub.add_parser("add", help="import a ComfyUI workflow (API or UI format) as a template")
    a.add_argument("file", type=Path, metavar="FILE", help="the exported workflow JSON")
    a.add_argument("--id", required=True, dest="template_id", help="template id (file <ID>.json)")
    source = a.add_mutually_exclusive_group()
    source.add_argument(
        "--comfy-url", help="ComfyUI server: node schemas and a compatibility check"
    )
    source.add_argument("--object-info", type=Path, help="a saved GET /object_info (JSON)")
    a.add_argument("--name", help="a human name for the template (default: from the file name)")
    a.add_argument("--force", action="store_true", help="replace an existing template")
    _common(a)
    a.set_defaults(func=add_command)
    ls = sub.add_parser("list", help="every template, and the broken files with the reason")
    _common(ls)
    ls.set_defaults(func=list_command)
    show = sub.add_parser("show", help="one template: roles, defaults, models, parameters")
    show.add_argument("template_id", metavar="ID")
    _common(show)
    show.set_defaults(func=show_command)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workflows-dir", type=Path, help=WORKFLOWS_DIR_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _workflows_dir(args: argparse.Namespace, must_exist: bool = False) -> Path:
    folder = args.workflows_dir or default_workflows_dir()
    if folder.exists() and not folder.is_dir():
        raise TemplateImportError(f"--workflows-dir {folder}: is a file, not a folder")
    if must_exist and not folder.is_dir():
        raise TemplateImportError(f"--workflows-dir {folder}: no such folder")
    return folder


def _fail(args: argparse.Namespace, message: str) -> int:
    """A refusal: the reason on stderr, and with --json also as one object on stdout."""
    print(f"error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message}, ensure_ascii=False))
    return EXIT_REFUSED


def bundled_object_info() -> dict[str, Any]:
    """ComfyUI 0.3.64's node catalogue, the one the emulator serves: the types role inference
    needs when no server is named (an API-format file carries no types)."""
    return real_catalogue()


def read_object_info(path: Path) -> dict[str, Any]:
    """A saved `/object_info`: the plain response, or a capture holding it under `response`."""
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise TemplateImportError(f"--object-info {path}: cannot read: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TemplateImportError(f"--object-info {path}: not valid JSON ({exc})") from exc
    if isinstance(doc, dict) and isinstance(doc.get("response"), dict):
        doc = doc["response"]
    if not isinstance(doc, dict) or not any(
        isinstance(v, dict) and "input" in v for v in doc.values()
    ):
        raise TemplateImportError(
            f"--object-info {path}: not a GET /object_info answer (an object of node classes, "
            "each with its 'input'); save http://HOST:8188/object_info from your server"
        )
    return doc


async def _fetch_server(url: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    async with ComfyClient(url, timeouts=SERVER_TIMEOUTS) as client:
        return await server_catalogue(client)


def fetch_server(url: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    if not url.startswith(("http://", "https://")):
        raise TemplateImportError(f"--comfy-url {url}: give the whole URL, like http://{url}")
    try:
        return asyncio.run(_fetch_server(url))
    except ComfyError as exc:
        raise TemplateImportError(f"--comfy-url {url}: {exc}") from exc


def add_command(args: argparse.Namespace) -> int:
    try:
        report = import_template(args)
    except TemplateImportError as exc:
        return _fail(args, str(exc))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    return EXIT_SERVER_LACKS if report.problems else 0


def import_template(args: argparse.Namespace) -> ImportReport:
    check_template_id(args.template_id)
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        raise TemplateImportError(f"{args.file}: cannot read: {exc.strerror}") from exc
    server: tuple[dict[str, Any], dict[str, list[str]]] | None = None
    if args.comfy_url:
        server = fetch_server(args.comfy_url)
        object_info: dict[str, Any] | None = server[0]
    elif args.object_info:
        object_info = read_object_info(args.object_info)
    else:
        object_info = None
    schemas = NodeSchemas(object_info if object_info is not None else bundled_object_info())
    workflows = _workflows_dir(args)
    target = workflows / f"{args.template_id}.json"
    previous = _previous(target)
    doc, report = build_template(
        raw,
        label=str(args.file),
        template_id=args.template_id,
        schemas=schemas,
        ui_object_info=object_info,
        name=args.name,
        previous=previous,
    )
    report.path = target
    if object_info is not None:
        models = server[1] if server else {}
        check_against_server(report, object_info, models)
        broken = [p for p in report.problems if p.kind in GRAPH_FAULTS]
        if broken:
            # A missing model or custom node can be installed; a wrong value cannot render.
            raise TemplateImportError(
                f"{args.file}: the server would refuse the graph itself, so nothing was "
                "written: " + "; ".join(str(p) for p in broken) + " — fix it in ComfyUI and "
                "export it again"
            )
    if target.exists():
        unchanged = previous is not None and _same(previous, doc)
        if unchanged:
            report.written = False
            report.notes.append(f"{target} already holds this template; nothing written")
            return report
        if not args.force:
            held = (
                f"version {report.previous_version}"
                if report.previous_version
                else "not a template of this id"
            )
            raise TemplateImportError(
                f"{target} exists ({held}); pass --force to replace it "
                f"(it becomes version {report.metadata['version']})"
            )
    _write(target, doc)
    return report


def _previous(target: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(target.read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _same(previous: Mapping[str, Any], doc: Mapping[str, Any]) -> bool:
    return json.dumps(previous, sort_keys=True) == json.dumps(doc, sort_keys=True)


def _write(target: Path, doc: dict[str, Any]) -> None:
    data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    # The registry's own checks judge the file before it replaces anything.
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / target.name
        trial.write_bytes(data)
        try:
            load_template(trial)
        except TemplateError as exc:
            raise TemplateImportError(f"the template would not load: {exc.reason}") from exc
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    except OSError as exc:
        where = exc.filename or target
        raise TemplateImportError(f"{where}: cannot write the template: {os_reason(exc)}") from exc


def _print_report(report: ImportReport) -> None:
    meta = report.metadata
    verb = "wrote" if report.written else "unchanged:"
    previous = f" (was {report.previous_version})" if report.previous_version else ""
    print(
        f"{verb} {report.path} — template {report.template_id} version {meta['version']}"
        f"{previous}, {meta['kind']}, from the {report.source_format.upper()} format"
    )
    print("roles:")
    for role, node_id in meta["nodes"].items():
        if node_id is not None:
            print(f"  {role:<18} node {node_id} ({report.graph[node_id]['class_type']})")
    if meta["second_passes"]:
        print(f"  second passes      {', '.join(meta['second_passes'])} ({TWO_PASS_RULE})")
    print(
        "defaults: " + ", ".join(f"{k}={v}" for k, v in meta["defaults"].items() if v is not None)
    )
    for folder, names in meta["models"].items():
        print(f"models/{folder}: {', '.join(names)}")
    if meta["input_requirements"]:
        print("the job must list: " + ", ".join(meta["input_requirements"]))
    print(f"{len(report.parameters)} parameters worth sweeping (--json lists them)")
    for note in report.notes:
        print(f"note: {note}")
    if not report.checked:
        print("not checked against a server: pass --comfy-url to check nodes and models")
    elif report.problems:
        print(f"the server would refuse it ({len(report.problems)} problem(s)):")
        for problem in report.problems:
            print(f"  {problem}")
    else:
        print("the server has every node class, value and model it uses")


def _template_summary(t: Template) -> dict[str, Any]:
    meta = t.metadata
    graph = t.graph()
    models = meta.get("models")
    if not isinstance(models, dict):
        models = graph_summary(graph)["models"]
    return {
        "template_id": t.template_id,
        "file": str(t.path),
        "version": t.version,
        "kind": str(t.kind),
        "workflow_name": meta.get("workflow_name"),
        "models": models,
        "roles": {k: v for k, v in (meta.get("nodes") or {}).items() if v is not None},
        "defaults": t.defaults,
        "sha256": t.sha256,
    }


def list_command(args: argparse.Namespace) -> int:
    try:
        registry = scan_templates(_workflows_dir(args, must_exist=True))
    except TemplateImportError as exc:
        return _fail(args, str(exc))
    summaries = [_template_summary(t) for _, t in sorted(registry.templates.items())]
    broken = [
        {"template_id": b.template_id, "file": str(b.path), "reason": b.reason}
        for _, b in sorted(registry.broken.items())
    ]
    if args.json:
        print(json.dumps({"templates": summaries, "broken": broken}, indent=2))
        return 0
    rows = [("id", "version", "kind", "models", "roles", "sha256")]
    for s in summaries:
        names = [n for names in s["models"].values() for n in names]
        rows.append(
            (
                s["template_id"],
                s["version"],
                s["kind"],
                ", ".join(names) or "-",
                ", ".join(s["roles"]) or "-",
                s["sha256"][:12],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    for b in registry.broken.values():
        print(f"broken: {b.line()}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    try:
        registry = scan_templates(_workflows_dir(args, must_exist=True))
    except TemplateImportError as exc:
        return _fail(args, str(exc))
    template = registry.templates.get(args.template_id)
    if template is None:
        broken = registry.broken_by_id().get(args.template_id)
        if broken is not None:
            return _fail(args, broken.line())
        known = ", ".join(sorted(registry.templates)) or "none"
        return _fail(args, f"no template {args.template_id!r} (known: {known})")
    summary = _template_summary(template)
    graph = template.graph()
    roles = template.metadata.get("nodes") or {}
    params = sweepable_parameters(graph, NodeSchemas(bundled_object_info()), roles)
    summary["metadata"] = template.metadata
    summary["parameters"] = [p.as_dict() for p in params]
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    print(f"{summary['template_id']} {summary['version']} ({summary['kind']}): {summary['file']}")
    print(f"sha256 {summary['sha256']}")
    for role, node_id in summary["roles"].items():
        print(f"  {role:<18} node {node_id} ({graph.get(node_id, {}).get('class_type', '?')})")
    print("defaults: " + ", ".join(f"{k}={v}" for k, v in summary["defaults"].items()))
    for folder, names in summary["models"].items():
        print(f"models/{folder}: {', '.join(names)}")
    print("parameters:")
    for p in params:
        role = f" [{p.role}]" if p.role else ""
        value = p.value if not isinstance(p.value, str) or len(p.value) < 50 else p.value[:47] + "…"
        print(f"  node {p.node_id}.{p.input} = {value!r} ({p.category}){role}")
    source = template.metadata.get("source")
    if isinstance(source, dict):
        print(
            f"imported from {source.get('file')} ({source.get('format')}), {source.get('sha256')}"
        )
    return 0
