"""Caption text from the job's copy, held to Instagram's limits (2,200 chars, 30 hashtags)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nightrun_dagster.creative_job.model import CreativeJob

IG_MAX_CHARS = 2200
IG_MAX_HASHTAGS = 30
_HASHTAG = re.compile(r"#\w+")


@dataclass(frozen=True)
class Caption:
    """The caption, the hashtags it carries and what was trimmed to fit (empty when nothing)."""

    text: str
    hashtags: list[str]
    trimmed: list[str] = field(default_factory=list)


def _tag(raw: str) -> str:
    # Hashtags cannot hold spaces or punctuation; "#Yerba Mate" would end at the space.
    word = re.sub(r"[^\w]", "", raw.strip().lstrip("#"))
    return f"#{word}" if word else ""


def build_caption(job: CreativeJob) -> Caption:
    """Headline, subheadline, offer and CTA, then hashtags; trimmed to Instagram's limits."""
    copy = job.copy_
    body = [copy.headline.strip(), copy.subheadline.strip()]
    if job.goal.offer:
        body.append(job.goal.offer.strip())
    if job.goal.cta:
        body.append(f"👉 {job.goal.cta.strip()}")
    body = [line for line in body if line]
    trimmed: list[str] = []
    tags: list[str] = []
    seen: set[str] = set()
    for raw in copy.hashtags or []:
        tag = _tag(raw)
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            tags.append(tag)
    # Hashtags inside the copy count towards Instagram's 30 too.
    in_body = len(_HASHTAG.findall("\n".join(body)))
    room = max(0, IG_MAX_HASHTAGS - in_body)
    if len(tags) > room:
        trimmed.append(f"dropped {len(tags) - room} hashtags over Instagram's limit of 30")
        tags = tags[:room]

    def compose(lines: list[str], hashtags: list[str]) -> str:
        text = "\n".join(lines)
        return f"{text}\n\n{' '.join(hashtags)}" if hashtags else text

    text = compose(body, tags)
    while len(text) > IG_MAX_CHARS and tags:
        tags = tags[:-1]
        text = compose(body, tags)
        if not trimmed or not trimmed[-1].startswith("dropped hashtags to fit"):
            trimmed.append("dropped hashtags to fit Instagram's 2,200 characters")
    if len(text) > IG_MAX_CHARS:
        text = text[: IG_MAX_CHARS - 1].rstrip() + "…"
        trimmed.append("cut the copy to Instagram's 2,200 characters")
    return Caption(text=text, hashtags=tags, trimmed=trimmed)
