"""Maps a job's placements (platform × format × deliverable) to the files a package must hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nightrun_dagster.creative_job.model import CreativeJob

Kind = Literal["image", "video"]

# Placement geometry shared by both platforms; carousel cards are feed-sized 4:5 images.
_PLACEMENTS: dict[str, tuple[str, int, int]] = {
    "feed_4x5": ("feed_4x5", 1080, 1350),
    "carousel_4x5": ("feed_4x5", 1080, 1350),
    "story_9x16": ("story", 1080, 1920),
    "reel_9x16": ("reel", 1080, 1920),
    "feed_1x1": ("feed_1x1", 1080, 1080),
}
_PREFIX = {"instagram": "IG", "facebook": "FB"}
_WHERE = {
    ("instagram", "feed_4x5"): "Instagram app → + → Post (feed), keep the 4:5 crop",
    ("instagram", "feed_1x1"): "Instagram app → + → Post (feed), choose the 1:1 crop",
    ("instagram", "story"): "Instagram app → + → Story",
    ("instagram", "reel"): "Instagram app → + → Reel",
    ("facebook", "feed_4x5"): "Meta Business Suite → Create post (Facebook Page feed)",
    ("facebook", "feed_1x1"): "Meta Business Suite → Create post (Facebook Page feed)",
    ("facebook", "story"): "Meta Business Suite → Create story (Facebook Page)",
    ("facebook", "reel"): "Meta Business Suite → Create reel (Facebook Page)",
}


@dataclass(frozen=True)
class OutputFormat:
    """One file of a package: where it goes, its exact pixel size and whether it is a still."""

    platform: str
    placement: str
    job_formats: tuple[str, ...]
    width: int
    height: int
    kind: Kind
    filename: str
    upload_where: str

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


def _filename(platform: str, placement: str, width: int, height: int, ext: str) -> str:
    # e.g. IG_feed_4x5_1080x1350.png, IG_story_1080x1920.png, IG_reel_1080x1920.mp4
    return f"{_PREFIX[platform]}_{placement}_{width}x{height}.{ext}"


def formats_for_job(job: CreativeJob) -> list[OutputFormat]:
    """The outputs the job's `platforms` ask for, deduplicated, in the job's order.

    Reels are always MP4 (a still job gets a still-image clip). A video deliverable on an
    image placement gets both an MP4 at the placement's size and a PNG still from the poster,
    so either can be posted.
    """
    outputs: dict[str, OutputFormat] = {}
    job_formats: dict[str, list[str]] = {}
    for target in job.platforms:
        placement, width, height = _PLACEMENTS[target.format]
        deliverable = target.deliverable or ("video" if placement == "reel" else "image")
        kinds: list[Kind]
        if placement == "reel":
            kinds = ["video"]
        elif deliverable == "video":
            kinds = ["video", "image"]
        else:
            kinds = ["image"]
        for kind in kinds:
            ext = "mp4" if kind == "video" else "png"
            name = _filename(target.platform, placement, width, height, ext)
            job_formats.setdefault(name, [])
            if target.format not in job_formats[name]:
                job_formats[name].append(target.format)
            outputs[name] = OutputFormat(
                platform=target.platform,
                placement=placement,
                job_formats=tuple(job_formats[name]),
                width=width,
                height=height,
                kind=kind,
                filename=name,
                upload_where=_WHERE[(target.platform, placement)],
            )
    return list(outputs.values())
