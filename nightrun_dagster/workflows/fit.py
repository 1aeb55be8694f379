"""Whether a job's sweep fits its template: what a variant asks for must have a node to go to,
so a job that cannot render is refused at intake, in the template's terms, not at 3 a.m."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.workflows.apply import controlnet_type_named, swappable_controlnet
from nightrun_dagster.workflows.compat import is_link
from nightrun_dagster.workflows.roles import Role
from nightrun_dagster.workflows.samplers import UnknownSampler, resolve_sampler
from nightrun_dagster.workflows.templates import Template

Problem = tuple[str, str]  # (field, reason)
SWEEP = "generation.variants"


def _has_input(graph: Mapping[str, Any], node_id: str | None, name: str) -> bool:
    if node_id is None or node_id not in graph:
        return False
    inputs = graph[node_id].get("inputs") or {}
    return name in inputs and not is_link(inputs[name])


def _describe(graph: Mapping[str, Any], node_id: str | None) -> str:
    if node_id is None or node_id not in graph:
        return "none"
    return f"node {node_id}, {graph[node_id].get('class_type')}"


def fit_problems(job: CreativeJob, template: Template) -> list[Problem]:
    """Every sweep value the template has no place for, as (field, reason) pairs."""
    return list(_fit(job, template))


def _fit(job: CreativeJob, template: Template) -> Iterator[Problem]:
    graph = template.graph()
    roles: Mapping[str, str | None] = template.metadata.get("nodes") or {}
    v = job.generation.variants
    tid = template.template_id
    sampler = roles.get(Role.sampler)
    steps_host = [sampler, roles.get(Role.sigmas)]
    if v.controlnet and roles.get(Role.controlnet_apply) is None:
        yield (
            f"{SWEEP}.controlnet",
            f"template {tid} has no ControlNet node to weight; remove controlnet from the "
            "sweep or use a template with a ControlNetApply node",
        )
    if v.loras and not (roles.get(Role.checkpoint) or roles.get(Role.unet)):
        yield (
            f"{SWEEP}.loras",
            f"template {tid} has no checkpoint or diffusion-model loader to chain LoRAs from",
        )
    if v.steps and not any(_has_input(graph, n, "steps") for n in steps_host):
        yield (
            f"{SWEEP}.steps",
            f"template {tid}'s sampler ({_describe(graph, sampler)}) has no steps",
        )
    cfg_hosts = [sampler, roles.get(Role.guider)]
    if v.cfg and not (
        any(_has_input(graph, n, "cfg") for n in cfg_hosts)
        or _has_input(graph, roles.get(Role.guidance), "guidance")
    ):
        yield (
            f"{SWEEP}.cfg",
            f"template {tid}'s sampler ({_describe(graph, sampler)}) has no cfg or guidance",
        )
    partial = [d for d in v.denoise or [] if d != 1]
    if partial and not any(_has_input(graph, n, "denoise") for n in steps_host):
        yield (
            f"{SWEEP}.denoise",
            f"template {tid}'s sampler ({_describe(graph, sampler)}) has no denoise, so only "
            "1.0 can render",
        )
    names = [sampler, roles.get(Role.sampler_select)]
    if v.samplers and not any(_has_input(graph, n, "sampler_name") for n in names):
        yield (
            f"{SWEEP}.samplers",
            f"template {tid}'s sampler ({_describe(graph, sampler)}) has no sampler_name to set",
        )
    chosen: dict[tuple[str, str], int] = {}
    for i, name in enumerate(v.samplers or []):
        try:
            choice = resolve_sampler(name, "normal")
        except UnknownSampler as exc:
            yield f"{SWEEP}.samplers[{i}]", str(exc)
            continue
        same = chosen.setdefault((choice.sampler_name, choice.scheduler), i)
        if same != i:
            yield (
                f"{SWEEP}.samplers[{i}]",
                f"{name!r} is the same sampler as samplers[{same}] ({v.samplers[same]!r}): "
                "every variant would be rendered twice; list it once",
            )
    if v.negative_variants and roles.get(Role.negative) is None:
        yield (
            f"{SWEEP}.negative_variants",
            f"template {tid} has no negative prompt (its sampler's negative conditioning comes "
            "from no text encoder), so every negative variant would render the same image",
        )
    yield from _controlnet_types(job, graph, roles, tid)


def _controlnet_types(
    job: CreativeJob, graph: Mapping[str, Any], roles: Mapping[str, str | None], tid: str
) -> Iterator[Problem]:
    """A template's own ControlNet model stays; the job's type must not contradict it."""
    loader = roles.get(Role.controlnet_loader)
    saved = graph.get(loader, {}).get("inputs", {}).get("control_net_name") if loader else None
    if not isinstance(saved, str) or swappable_controlnet(saved):
        return
    named = controlnet_type_named(saved)
    for i, arm in enumerate(job.generation.variants.controlnet or []):
        if named is not None and arm.type != named:
            yield (
                f"{SWEEP}.controlnet[{i}].type",
                f"template {tid} loads the {named} ControlNet {saved!r} (node {loader}); its "
                f"preprocessing is built for it, so the job cannot ask for {arm.type!r}",
            )
