"""Friendly sampler names -> ComfyUI sampler_name + scheduler."""

import pytest

from nightrun_dagster.workflows.samplers import (
    SAMPLER_ALIASES,
    SAMPLER_NAMES,
    SCHEDULER_NAMES,
    SamplerChoice,
    UnknownSampler,
    normalize,
    resolve_sampler,
)
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR, load_templates

TABLE = [
    # exact ComfyUI names keep the template's scheduler
    ("euler", "normal", "euler", "normal"),
    ("dpmpp_2m", "karras", "dpmpp_2m", "karras"),
    ("dpmpp_2m_sde_gpu", "exponential", "dpmpp_2m_sde_gpu", "exponential"),
    ("euler_ancestral_cfg_pp", "simple", "euler_ancestral_cfg_pp", "simple"),
    ("uni_pc_bh2", "simple", "uni_pc_bh2", "simple"),
    ("ddim", "ddim_uniform", "ddim", "ddim_uniform"),
    # <sampler>_<scheduler>, the longest sampler wins
    ("dpmpp_2m_karras", "normal", "dpmpp_2m", "karras"),
    ("dpmpp_2m_sde_karras", "normal", "dpmpp_2m_sde", "karras"),
    ("dpmpp_2m_sde_gpu_exponential", "normal", "dpmpp_2m_sde_gpu", "exponential"),
    ("uni_pc_simple", "karras", "uni_pc", "simple"),
    ("uni_pc_bh2_sgm_uniform", "karras", "uni_pc_bh2", "sgm_uniform"),
    ("euler_linear_quadratic", "normal", "euler", "linear_quadratic"),
    ("ddim_ddim_uniform", "normal", "ddim", "ddim_uniform"),
    ("lcm_sgm_uniform", "normal", "lcm", "sgm_uniform"),
    # shorthands and A1111 display names
    ("euler_a", "karras", "euler_ancestral", "karras"),
    ("euler_a_normal", "karras", "euler_ancestral", "normal"),
    ("Euler a", "normal", "euler_ancestral", "normal"),
    ("Euler", "simple", "euler", "simple"),
    ("DPM++ 2M Karras", "normal", "dpmpp_2m", "karras"),
    ("DPM++ 2M", "normal", "dpmpp_2m", "normal"),
    ("DPM++ SDE Karras", "normal", "dpmpp_sde", "karras"),
    ("DPM++ 2M SDE Karras", "normal", "dpmpp_2m_sde", "karras"),
    ("DPM++ 2M SDE Exponential", "normal", "dpmpp_2m_sde", "exponential"),
    ("DPM++ 3M SDE Karras", "normal", "dpmpp_3m_sde", "karras"),
    ("DPM++ 2S a Karras", "normal", "dpmpp_2s_ancestral", "karras"),
    ("DPM2 a", "normal", "dpm_2_ancestral", "normal"),
    ("DPM2 Karras", "normal", "dpm_2", "karras"),
    ("LMS Karras", "normal", "lms", "karras"),
    ("DPM fast", "normal", "dpm_fast", "normal"),
    ("UniPC", "simple", "uni_pc", "simple"),
    ("  LCM ", "sgm_uniform", "lcm", "sgm_uniform"),
]


@pytest.mark.parametrize(("name", "default", "sampler", "scheduler"), TABLE)
def test_mapping_table(name: str, default: str, sampler: str, scheduler: str) -> None:
    assert resolve_sampler(name, default) == SamplerChoice(sampler, scheduler)
    assert sampler in SAMPLER_NAMES
    assert scheduler in SCHEDULER_NAMES


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("eulr", "euler"), ("dpmpp_2x_karras", "dpmpp_2m_karras"), ("unipc_fancy", None)],
)
def test_unknown_names_suggest_close_matches(name: str, suggestion: str | None) -> None:
    with pytest.raises(UnknownSampler) as exc:
        resolve_sampler(name, "normal")
    assert exc.value.name == name
    assert f"unknown sampler {name!r}" in str(exc.value)
    if suggestion:
        assert suggestion in exc.value.suggestions
        assert suggestion in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_bad_scheduler_suffix_is_unknown() -> None:
    with pytest.raises(UnknownSampler):
        resolve_sampler("euler_turbo", "normal")
    with pytest.raises(UnknownSampler):
        resolve_sampler("karras", "normal")  # a scheduler alone is not a sampler


def test_aliases_point_at_real_samplers() -> None:
    assert set(SAMPLER_ALIASES.values()) <= set(SAMPLER_NAMES)
    assert not set(SAMPLER_ALIASES) & set(SAMPLER_NAMES)
    assert len(SAMPLER_NAMES) == len(set(SAMPLER_NAMES))
    assert normalize("DPM++ 2M-SDE  Karras") == "dpmpp_2m_sde_karras"


@pytest.mark.parametrize("tid", sorted(load_templates(DEFAULT_WORKFLOWS_DIR)))
def test_template_default_sampler_is_what_its_ksampler_holds(tid: str) -> None:
    template = load_templates(DEFAULT_WORKFLOWS_DIR)[tid]
    default = template.defaults.get("sampler")
    sampler_id = template.metadata["nodes"]["sampler"]
    if sampler_id is None:
        assert default is None
        return
    inputs = template.graph()[sampler_id]["inputs"]
    choice = resolve_sampler(default, "normal")
    assert (choice.sampler_name, choice.scheduler) == (inputs["sampler_name"], inputs["scheduler"])
