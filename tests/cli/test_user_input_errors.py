"""Every `nightrun` command given bad input — missing, unreadable or malformed files, folders that
do not exist, wrong values — exits non-zero with one line naming the thing and the reason, and
never a traceback. Each case is a real subprocess in its own folder with a fresh artifact root;
the cases start together so the whole table takes seconds, not minutes."""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from nightrun_dagster.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "job_specs"
API_WORKFLOW = REPO / "tests" / "data" / "workflows" / "api" / "sdxl_refiner.json"
JOB_KEY = "verde-yerba-static-2026-02"  # the key of job_specs/static_sdxl_ad.json
NO_FOLDER = "/no/such/folder"
UNREADABLE = "<unreadable>"  # stands for the reason an unreadable file gives, see below


@functools.cache
def chmod_blocks_reads() -> bool:
    """False when the tests run as root (or with CAP_DAC_OVERRIDE): chmod 000 stops nobody, so
    an unreadable file is made another way."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False


def make_unreadable(path: Path, data: bytes) -> None:
    """A file nobody can read: mode 000, or (for root) a folder where the file is expected,
    which root cannot read as a file either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if chmod_blocks_reads():
        path.write_bytes(data)
        path.chmod(0)
    else:
        path.mkdir()


def unreadable_reason() -> str:
    return "permission denied" if chmod_blocks_reads() else "is a directory|is a folder"


def workspace(folder: Path) -> None:
    """What every case finds in its folder (its working directory): a valid job with its assets
    in the artifact root, and the bad files the cases name."""
    root = folder / "root"
    shutil.copytree(EXAMPLES / "assets", root / "assets")
    shutil.copy(EXAMPLES / "static_sdxl_ad.json", folder / "good.json")
    (folder / "bad.json").write_text('{"job_id": "half', encoding="utf-8")
    (folder / "file.txt").write_text("a file where a folder belongs\n", encoding="utf-8")
    (folder / "not_an_image.png").write_bytes(b"plain text, not a PNG")
    Image.new("RGB", (64, 80), "white").save(folder / "image.png")
    make_unreadable(folder / "unreadable.json", (folder / "good.json").read_bytes())
    make_unreadable(folder / "unreadable.png", (folder / "image.png").read_bytes())


def broken_template(folder: Path) -> None:
    """A workflows folder whose template for the job is cut off mid-file."""
    workflows = folder / "workflows"
    shutil.copytree(REPO / "workflows", workflows)
    (workflows / "static_ad_v1.json").write_text('{"1": {"class_type": ', encoding="utf-8")


def corrupt_plan(folder: Path) -> None:
    """Night 2026-02-10 planned for the job, its variants index cut off mid-file."""
    index = folder / "root" / "runs" / "2026-02-10" / f"job_{JOB_KEY}" / "variants" / "index.json"
    index.parent.mkdir(parents=True)
    index.write_text('{"variants": ["v0001", ', encoding="utf-8")


def unreadable_ledger(folder: Path) -> None:
    """A candidate of an old night whose decisions ledger cannot be read."""
    job = folder / "root" / "runs" / "2026-01-05" / "job_k"
    (job / "variants" / "v0001" / "out").mkdir(parents=True)
    make_unreadable(job / "selection" / "decisions.jsonl", b"")


def unreadable_latch(folder: Path) -> None:
    make_unreadable(folder / "root" / "ops" / "breaker_latch.json", b'{"breaker": "gpu_oom"}\n')


@dataclass(frozen=True)
class Case:
    id: str
    command: str  # as typed: "bench expand"
    args: tuple[str, ...]
    # Regexes (case-insensitive) one line of `stream` must all match: the thing, the reason.
    expect: tuple[str, ...]
    stream: str = "stderr"
    setup: Callable[[Path], None] | None = None
    env: tuple[tuple[str, str], ...] = ()  # over the fresh NIGHTRUN_ROOT and DAGSTER_HOME

    @property
    def argv(self) -> list[str]:
        return [*self.command.split(), *self.args]


def case(
    id: str,
    command: str,
    args: tuple[str, ...],
    *expect: str,
    stream: str = "stderr",
    setup: Callable[[Path], None] | None = None,
    env: tuple[tuple[str, str], ...] = (),
) -> Case:
    return Case(id, command, args, expect, stream, setup, env)


def argparse_line(flag: str, reason: str) -> str:
    return rf"error: argument {re.escape(flag)}: {reason}"


ROOT_IS_A_FILE = argparse_line("--root", r"file\.txt: is a file, not a folder")
MISSING = r"^nope\.json: \(document\): cannot read: .*No such file"
UNREADABLE_JOB = rf"^unreadable\.json: \(document\): cannot read: .*({UNREADABLE})"
MALFORMED = r"^bad\.json: \(json\): invalid JSON at line 1"
MISSING_ASSETS = (
    r"^good\.json: assets\.product_images\[0\]: 'product_yerba\.png' does not exist in the "
    r"assets root /no/such/folder"
)
BAD_NIGHT = r"^--night: night '2026-02-30' is not a date like"
API = str(API_WORKFLOW)

# `validate` prints its report, one `FILE: FIELD: REASON` line per problem, on stdout by
# contract (tests/cli/test_validate.py); every other command's refusal goes to stderr.
CASES = [
    case("validate-missing-file", "validate", ("nope.json",), MISSING, stream="stdout"),
    case("validate-unreadable", "validate", ("unreadable.json",), UNREADABLE_JOB, stream="stdout"),
    case("validate-malformed-json", "validate", ("bad.json",), MALFORMED, stream="stdout"),
    case(
        "validate-missing-assets-folder",
        "validate",
        ("--assets-root", NO_FOLDER, "good.json"),
        MISSING_ASSETS,
        stream="stdout",
    ),
    case(
        "validate-missing-workflows-folder",
        "validate",
        ("--workflows-dir", NO_FOLDER, "good.json"),
        r"the workflows folder /no/such/folder does not exist",
    ),
    case(
        "validate-malformed-template",
        "validate",
        ("--workflows-dir", "workflows", "good.json"),
        r"^good\.json: generation\.workflow\.template_id: .*static_ad_v1\.json is broken: "
        r"not valid JSON",
        stream="stdout",
        setup=broken_template,
    ),
    case(
        "validate-root-is-a-file", "validate", ("--root", "file.txt", "good.json"), ROOT_IS_A_FILE
    ),
    case("expand-missing-file", "expand", ("nope.json",), MISSING),
    case("expand-unreadable", "expand", ("unreadable.json",), UNREADABLE_JOB),
    case("expand-malformed-json", "expand", ("bad.json",), MALFORMED),
    case("expand-bad-night", "expand", ("good.json", "--night", "2026-02-30"), BAD_NIGHT),
    case(
        "expand-negative-preview",
        "expand",
        ("good.json", "--preview", "-1"),
        argparse_line("--preview", "-1 is negative"),
    ),
    case(
        "expand-unknown-mode",
        "expand",
        ("good.json", "--mode", "nightly"),
        argparse_line("--mode", "invalid choice: 'nightly'"),
    ),
    case(
        "expand-missing-assets-folder",
        "expand",
        ("good.json", "--assets-root", NO_FOLDER),
        MISSING_ASSETS,
    ),
    case("graph-missing-file", "graph", ("nope.json",), MISSING),
    case("graph-unreadable", "graph", ("unreadable.json",), UNREADABLE_JOB),
    case("graph-malformed-json", "graph", ("bad.json",), MALFORMED),
    case("graph-bad-night", "graph", ("good.json", "--night", "2026-02-30"), BAD_NIGHT),
    case(
        "graph-unknown-variant",
        "graph",
        ("good.json", "--night", "2026-02-10", "--variant", "v9999"),
        r"^good\.json: no variant v9999; this job has \d+ variants",
    ),
    case(
        "graph-malformed-plan",
        "graph",
        ("good.json", "--night", "2026-02-10"),
        rf"^good\.json: the night's plan .*/job_{JOB_KEY}/variants/index\.json: not valid JSON",
        setup=corrupt_plan,
    ),
    case(
        "template-add-missing-file",
        "template add",
        ("nope.json", "--id", "mine"),
        r"nope\.json: cannot read: No such file",
    ),
    case(
        "template-add-unreadable",
        "template add",
        ("unreadable.json", "--id", "mine"),
        rf"unreadable\.json: cannot read: ({UNREADABLE})",
    ),
    case(
        "template-add-malformed-json",
        "template add",
        ("bad.json", "--id", "mine"),
        r"bad\.json: not valid JSON",
    ),
    case(
        "template-add-bad-id",
        "template add",
        (API, "--id", "two words"),
        r"--id 'two words': use letters, digits",
    ),
    case(
        "template-add-missing-object-info",
        "template add",
        (API, "--id", "mine", "--object-info", "nope.json"),
        r"--object-info nope\.json: cannot read: No such file",
    ),
    case(
        "template-add-malformed-object-info",
        "template add",
        (API, "--id", "mine", "--object-info", "bad.json"),
        r"--object-info bad\.json: not valid JSON",
    ),
    case(
        "template-add-workflows-dir-under-a-file",
        "template add",
        (API, "--id", "mine", "--workflows-dir", "file.txt/workflows"),
        r"file\.txt/workflows: cannot write the template: Not a directory",
    ),
    case(
        "template-list-missing-folder",
        "template list",
        ("--workflows-dir", NO_FOLDER),
        r"--workflows-dir /no/such/folder: no such folder",
    ),
    case(
        "template-show-unknown-id",
        "template show",
        ("no_such_template",),
        r"no template 'no_such_template' \(known: .*static_ad_v1",
    ),
    case(
        "template-show-workflows-dir-is-a-file",
        "template show",
        ("smoke_v1", "--workflows-dir", "file.txt"),
        r"--workflows-dir file\.txt: is a file, not a folder",
    ),
    case("schema-unexpected-argument", "schema", ("extra",), r"unrecognized arguments: extra"),
    case("score-missing-job", "score", ("image.png", "--job", "nope.json", "--no-ocr"), MISSING),
    case(
        "score-unreadable-job",
        "score",
        ("image.png", "--job", "unreadable.json", "--no-ocr"),
        UNREADABLE_JOB,
    ),
    case("score-malformed-job", "score", ("image.png", "--job", "bad.json", "--no-ocr"), MALFORMED),
    case(
        "score-missing-image",
        "score",
        ("nope.png", "--job", "good.json", "--no-ocr"),
        r"^nope\.png: no such file",
    ),
    case(
        "score-unreadable-image",
        "score",
        ("unreadable.png", "--job", "good.json", "--no-ocr"),
        rf"^unreadable\.png: .*({UNREADABLE})",
    ),
    case(
        "score-malformed-image",
        "score",
        ("not_an_image.png", "--job", "good.json", "--no-ocr"),
        r"^not_an_image\.png: not an image we can read$",
    ),
    case(
        "score-missing-base-ui",
        "score",
        ("image.png", "--job", "good.json", "--base-ui", "nope.png", "--no-ocr"),
        r"^--base-ui: nope\.png: no such file",
    ),
    case(
        "score-cache-dir-is-a-file",
        "score",
        ("image.png", "--job", "good.json", "--cache-dir", "file.txt"),
        argparse_line("--cache-dir", r"file\.txt: is a file, not a folder"),
    ),
    case(
        "approve-unknown-artifact",
        "approve",
        ("abcdefghij", "--by", "ana"),
        r"^unknown artifact: abcdefghij \(not found under .*root/runs\)",
    ),
    case(
        "approve-empty-name",
        "approve",
        ("abcdefghij", "--by", " "),
        r"^--by: give the name of who decides",
    ),
    case(
        "approve-unreadable-ledger",
        "approve",
        ("2026-01-05/k/v0001", "--by", "ana"),
        rf"job_k/selection/decisions\.jsonl: cannot record the decision: ({UNREADABLE})",
        setup=unreadable_ledger,
    ),
    case(
        "favorite-unknown-candidate",
        "favorite",
        ("2026-02-10/no-such-job/v0001", "--by", "ana"),
        r"^unknown artifact: 2026-02-10/no-such-job/v0001 \(not found under",
    ),
    case(
        "reject-root-is-a-file",
        "reject",
        ("abcdefghij", "--by", "ana", "--root", "file.txt"),
        ROOT_IS_A_FILE,
    ),
    case("clean-missing-root", "clean", ("--root", NO_FOLDER), r"^no runs/ under /no/such/folder"),
    case(
        "clean-bad-date",
        "clean",
        ("--today", "2026-02-30"),
        argparse_line("--today", "'2026-02-30' is not a date like"),
    ),
    case(
        "clean-negative-count",
        "clean",
        ("--keep-top-k", "-1"),
        argparse_line("--keep-top-k", "-1 is negative"),
    ),
    case(
        "clean-unreadable-ledger",
        "clean",
        ("--today", "2026-03-01"),
        rf"job_k/selection/decisions\.jsonl: retention stopped: ({UNREADABLE})",
        setup=unreadable_ledger,
    ),
    case(
        "comfy-sim-bad-port",
        "comfy-sim",
        ("--port", "70000"),
        argparse_line("--port", r"70000 is not a port \(0 to 65535"),
    ),
    case(
        "comfy-sim-bad-probability",
        "comfy-sim",
        ("--oom-probability", "2"),
        argparse_line("--oom-probability", r"2 is not a probability \(0 to 1\)"),
    ),
    case(
        "comfy-sim-bad-model",
        "comfy-sim",
        ("--port", "0", "--output-dir", "sim/output", "--model", "sdxl.safetensors"),
        r"^--model 'sdxl\.safetensors': expected FOLDER/NAME$",
    ),
    case(
        "comfy-sim-output-dir-is-a-file",
        "comfy-sim",
        ("--port", "0", "--output-dir", "file.txt/output"),
        argparse_line("--output-dir", r"file\.txt/output: is under file\.txt, a file"),
    ),
    case(
        # TEST-NET-3: an address no interface of this machine has, refused at once.
        "comfy-sim-address-not-here",
        "comfy-sim",
        ("--host", "203.0.113.7", "--port", "0", "--output-dir", "sim/output"),
        r"^--host 203\.0\.113\.7 --port 0: the emulator cannot start: \S",
    ),
    case(
        "doctor-url-without-scheme",
        "doctor",
        ("--comfy-url", "localhost:8188"),
        r"^--comfy-url localhost:8188: give the whole URL, like http://localhost:8188$",
    ),
    case(
        "doctor-missing-workflows-folder",
        "doctor",
        ("--workflows-dir", NO_FOLDER),
        argparse_line("--workflows-dir", "/no/such/folder: no such folder"),
    ),
    case(
        "doctor-bad-number",
        "doctor",
        ("--min-free-gb", "lots"),
        argparse_line("--min-free-gb", "invalid float value: 'lots'"),
    ),
    case("doctor-root-is-a-file", "doctor", ("--root", "file.txt"), ROOT_IS_A_FILE),
    case(
        "resume-missing-root",
        "resume",
        ("--root", NO_FOLDER),
        r"^artifact root /no/such/folder: no such folder",
    ),
    case("resume-root-is-a-file", "resume", ("--status", "--root", "file.txt"), ROOT_IS_A_FILE),
    case(
        "resume-unreadable-latch",
        "resume",
        (),
        rf"root/ops/breaker_latch\.json: cannot read or clear the latch: ({UNREADABLE})",
        setup=unreadable_latch,
    ),
    case("demo-bad-night", "demo", ("--night", "2026-02-30"), BAD_NIGHT),
    case(
        "demo-night-not-open",
        "demo",
        ("--night", "2099-01-05"),
        r"^--night: night 2099-01-05 has not opened yet",
    ),
    case(
        "demo-missing-jobs-folder",
        "demo",
        ("--jobs", NO_FOLDER),
        argparse_line("--jobs", "/no/such/folder: no such folder"),
    ),
    case(
        "demo-missing-workflows-folder",
        "demo",
        ("--night", "2026-02-10", "--workflows-dir", NO_FOLDER),
        r"^--workflows-dir: /no/such/folder is not a folder",
    ),
    case(
        "demo-bad-number",
        "demo",
        ("--max-renders", "many"),
        argparse_line("--max-renders", "invalid int value: 'many'"),
    ),
    case(
        "demo-url-without-scheme",
        "demo",
        ("--night", "2026-02-10", "--comfy-url", "gpu1:8188"),
        r"^--comfy-url gpu1:8188: give the whole URL, like http://gpu1:8188$",
    ),
    case("demo-root-is-a-file", "demo", ("--root", "file.txt"), ROOT_IS_A_FILE),
    case(
        "demo-root-env-is-a-file",
        "demo",
        ("--night", "2026-02-10"),
        r"^\$NIGHTRUN_ROOT: file\.txt: is a file, not a folder$",
        env=(("NIGHTRUN_ROOT", "file.txt"),),
    ),
    case(
        "bench-expand-missing-folder",
        "bench expand",
        ("--dir", NO_FOLDER),
        argparse_line("--dir", "/no/such/folder: no such folder"),
    ),
    case(
        "bench-expand-dir-is-a-file",
        "bench expand",
        ("--dir", "file.txt"),
        argparse_line("--dir", r"file\.txt: is a file, not a folder"),
    ),
    case(
        "bench-expand-bad-number",
        "bench expand",
        ("--variants", "0"),
        argparse_line("--variants", "0 is not at least 1"),
    ),
    case(
        "bench-render-bad-number",
        "bench render",
        ("--prompts", "many"),
        argparse_line("--prompts", "invalid int value: 'many'"),
    ),
    case("bench-render-too-few-prompts", "bench render", ("--prompts", "1"), r"--prompts 1: "),
    case(
        "bench-score-missing-folder",
        "bench score",
        ("--dir", NO_FOLDER),
        argparse_line("--dir", "/no/such/folder: no such folder"),
    ),
    case(
        "bench-score-bad-number",
        "bench score",
        ("--images", "0"),
        argparse_line("--images", "0 is not at least 1"),
    ),
    case(
        "bench-night-saturday",
        "bench night",
        ("--night", "2026-03-07"),
        r"--night 2026-03-07: pick a Monday to Thursday night \(exploration mode\)",
    ),
    case(
        "bench-night-bad-scale",
        "bench night",
        ("--hour-seconds", "0"),
        r"--hour-seconds 0\.0: give 0\.5 to 3600",
    ),
    case(
        "bench-night-missing-folder",
        "bench night",
        ("--dir", NO_FOLDER),
        argparse_line("--dir", "/no/such/folder: no such folder"),
    ),
    case(
        "cost-unknown-template",
        "cost",
        ("--template", "nope"),
        r"--template nope: no such template",
        r"known: smoke_v1, static_ad_v1",
    ),
    case(
        "cost-bad-night",
        "cost",
        ("--night", "2026-13-01"),
        r"--night: night '2026-13-01' is not a date like 2026-02-09",
    ),
    case(
        "cost-missing-root",
        "cost",
        ("--root", NO_FOLDER),
        r"artifact root /no/such/folder: no such folder",
    ),
]


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every command a person can type, subcommands included (`template add`, `bench score`)."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= commands(sub, (*prefix, name))
    return found or {" ".join(prefix)}


def run_case(c: Case, folder: Path) -> subprocess.CompletedProcess[str]:
    workspace(folder)
    if c.setup is not None:
        c.setup(folder)
    env = {
        **os.environ,
        "NIGHTRUN_ROOT": str(folder / "root"),
        "DAGSTER_HOME": str(folder / "dagster_home"),
    }
    for name in ("NIGHTRUN_WORKFLOWS_DIR", "COMFYUI_URL"):
        env.pop(name, None)  # the project's workflows/ and the default URL
    env.update(c.env)
    return subprocess.run(
        [sys.executable, "-m", "nightrun_dagster.cli.main", *c.argv],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def results(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """Every selected case started at once (each waits on its own process, mostly Python's
    imports); a test takes its case's result."""
    selected: set[str] = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec and "c" in callspec.params:
            selected.add(callspec.params["c"].id)
    with ThreadPoolExecutor(max_workers=2 * len(os.sched_getaffinity(0))) as pool:
        yield {
            c.id: pool.submit(run_case, c, tmp_path_factory.mktemp(c.id))
            for c in CASES
            if c.id in selected
        }


def test_every_command_has_bad_input_cases() -> None:
    # A new command (or subcommand) fails here until it has its cases below.
    assert {c.command for c in CASES} == commands(build_parser())
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_bad_input_is_one_line_and_no_traceback(
    c: Case, results: dict[str, Future[subprocess.CompletedProcess[str]]]
) -> None:
    proc = results[c.id].result()
    shown = f"$ nightrun {' '.join(c.argv)}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, shown
    assert proc.returncode != 0, shown
    patterns = [
        re.compile(p.replace(UNREADABLE, unreadable_reason()), re.IGNORECASE) for p in c.expect
    ]
    stream = proc.stderr if c.stream == "stderr" else proc.stdout
    lines = [line for line in stream.splitlines() if all(p.search(line) for p in patterns)]
    assert lines, f"no {c.stream} line matches {[p.pattern for p in patterns]}\n{shown}"


@pytest.mark.parametrize(
    "latch", ['{"breaker": ', "[1, 2]", '{"breaker": "gpu_oom", "value": "lots"}'], ids=repr
)
def test_a_malformed_latch_still_stops_the_night_and_resume_clears_it(
    latch: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not a user-input error: the latch is the tree's own file, and a damaged one must keep the
    # night stopped (never run through a breaker by accident) until a person resumes.
    path = tmp_path / "ops" / "breaker_latch.json"
    path.parent.mkdir()
    path.write_text(latch, encoding="utf-8")
    assert main(["resume", "--status", "--root", str(tmp_path)]) == 0
    assert f"circuit breaker unknown latched at ? (the night): {path} is unreadable" in (
        capsys.readouterr().out
    )
    assert main(["resume", "--by", "ana", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("resumed: circuit breaker unknown")
    assert not path.exists()
    assert '"resumed_by": "ana"' in (tmp_path / "ops" / "breaker_history.jsonl").read_text()
