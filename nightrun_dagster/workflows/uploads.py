"""How a job's input images are named on the ComfyUI server once uploaded. Pure naming, here
rather than in `comfy` so that validation and planning (which never talk to a server) fill a
graph's LoadImage inputs exactly as the render loop will."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# The server input subfolder our uploads go to; a job's own is UPLOAD_PREFIX + "_" + its key.
UPLOAD_PREFIX = "nightrun"


def upload_subfolder(job_key: str) -> str:
    """Where a job's input images go on the server: one subfolder per job, so two jobs'
    same-named product shots never overwrite each other."""
    return f"{UPLOAD_PREFIX}_{job_key}"


def upload_name(rel: str) -> str:
    """The file name a job asset (path relative to the assets root) is uploaded under."""
    return Path(rel).name


def input_ref(name: str, subfolder: str) -> str:
    """The value a LoadImage input takes for an uploaded file: `subfolder/name`, or the bare
    name for a file at the top of the server's input folder."""
    return f"{subfolder}/{name}" if subfolder else name


def planned_uploads(rels: Iterable[str], subfolder: str) -> dict[str, str]:
    """The names LoadImage gets for these job assets once a worker has uploaded them: what
    the server echoes back, computed without asking it (previews of the graph, probes)."""
    return {rel: input_ref(upload_name(rel), subfolder) for rel in rels}
