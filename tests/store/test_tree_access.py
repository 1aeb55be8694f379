"""The artifact tree is read and written through `store/` only: outside it (and the emulator,
which plays ComfyUI's side), no code parses JSON itself or spells a sidecar's file name."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "nightrun_dagster"
OUTSIDE_THE_TREE = ("store", "emulator")

SIDECARS = (
    "params.json",
    "score.json",
    "submitted.json",
    "blocked.json",
    "shortlisted.json",
    "approved.json",
    "night_plan.json",
    "warmup.json",
    "night_summary.json",
    "night_closed.json",
    "window_closed.json",
    "breaker.json",
    "retention.json",
    "cleanup.json",
    "comfy_history.json",
    "prompt.json",
    "breaker_latch.json",
    "telegram_sent.json",
    "originals_sent.json",
    "artifacts.json",
    "decisions.jsonl",
    "index.json",
)
NAMES = "|".join(re.escape(n) for n in SIDECARS)
SIDECAR_NAME = re.compile(rf"""["']({NAMES})["']""")
JSON_PARSE = re.compile(r"(?<![\w.])(?:or)?json\.loads?\(")

# (file under nightrun_dagster/, text on the line): JSON that is not a tree document. Each says
# why; keep this list short.
PARSES_ALLOWED = {
    # User input: job files waiting in the queue, read and validated before any night has them.
    ("intake/assets.py", "json.loads(job_file.read_bytes())"),
    ("intake/validate.py", "json.loads(text, parse_constant=reject_constant)"),
    # A params document built in memory, round-tripped through its JSON bytes (no file).
    ("intake/planned.py", "json.loads(dump_json(params_document("),
    # Workflow templates: user input from the workflows folder, not the artifact tree.
    ("workflows/apply.py", "json.loads(raw)"),
    ("workflows/importer.py", 'json.loads(raw.decode("utf-8-sig"))'),
    ("workflows/templates.py", "json.loads(self.path.read_bytes())"),
    ("workflows/templates.py", "json.loads(raw)"),
    ("workflows/templates.py", "json.loads(path.read_bytes()).get(METADATA_KEY)"),
    # `nightrun template` reads the template file it is asked to check or import.
    ("cli/template.py", "json.loads(path.read_bytes())"),
    ("cli/template.py", "json.loads(target.read_bytes())"),
    # `nightrun bench night` writes its cases' jobs from the example job files (user input).
    ("cli/bench_night_jobs.py", "json.loads((EXAMPLES / want.template.value).read_text("),
    # ComfyUI's websocket messages and ffprobe's report: network and tool output.
    ("comfy/client.py", "json.loads(raw)"),
    ("publish/video.py", "json.loads(out.stdout)"),
}


def hits() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in OUTSIDE_THE_TREE:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"nightrun_dagster/{rel.as_posix()}:{number}"
            if (name := SIDECAR_NAME.search(line)) is not None:
                found.append(f"{where}: spells {name.group(0)} (use its store path)")
            if JSON_PARSE.search(line) and not any(
                rel.as_posix() == file and text in line for file, text in PARSES_ALLOWED
            ):
                found.append(f"{where}: parses JSON itself (read it through store/)")
    return found


def test_the_tree_is_read_and_written_through_the_store() -> None:
    found = hits()
    assert not found, "\n".join(found)


def test_every_allowed_parse_is_still_there() -> None:
    # An exception whose line went away must leave the list, or it would excuse a new one.
    lines = {
        (path.relative_to(PACKAGE).as_posix(), line)
        for path in PACKAGE.rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
    }
    stale = [
        (file, text)
        for file, text in PARSES_ALLOWED
        if not any(f == file and text in line for f, line in lines)
    ]
    assert not stale


def test_the_check_sees_what_it_looks_for() -> None:
    # The patterns match the forms the tree's readers used to take.
    assert SIDECAR_NAME.search('vdir / "meta" / "score.json"')
    assert SIDECAR_NAME.search("job_dir / 'blocked.json'")
    assert not SIDECAR_NAME.search('"fscore.json"')
    assert JSON_PARSE.search("doc = json.loads(path.read_bytes())")
    assert JSON_PARSE.search("obj = orjson.loads(line)")
    assert JSON_PARSE.search("json.load(fh)")
    assert not JSON_PARSE.search("json.dumps(doc)")
