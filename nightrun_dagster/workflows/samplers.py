"""Friendly sampler names (job files, A1111 habits) mapped to ComfyUI's sampler and scheduler."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# ComfyUI's own lists (comfy/samplers.py, KSampler.SAMPLERS / SCHEDULERS, ComfyUI 0.3.6x): a name
# outside them makes the server answer 400 `value_not_in_list`, so we refuse it before submitting.
KSAMPLER_NAMES: tuple[str, ...] = (
    "euler",
    "euler_cfg_pp",
    "euler_ancestral",
    "euler_ancestral_cfg_pp",
    "heun",
    "heunpp2",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpm_fast",
    "dpm_adaptive",
    "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde",
    "dpmpp_sde_gpu",
    "dpmpp_2m",
    "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun",
    "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu",
    "ddpm",
    "lcm",
    "ipndm",
    "ipndm_v",
    "deis",
    "res_multistep",
    "res_multistep_cfg_pp",
    "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp",
    "gradient_estimation",
    "gradient_estimation_cfg_pp",
    "er_sde",
    "seeds_2",
    "seeds_3",
    "sa_solver",
    "sa_solver_pece",
)
SAMPLER_NAMES: tuple[str, ...] = (*KSAMPLER_NAMES, "ddim", "uni_pc", "uni_pc_bh2")
SCHEDULER_NAMES: tuple[str, ...] = (
    "simple",
    "sgm_uniform",
    "karras",
    "exponential",
    "ddim_uniform",
    "beta",
    "normal",
    "linear_quadratic",
    "kl_optimal",
)

# Shorthands after normalisation (lower case, "++" -> "pp", spaces and dashes -> "_"): A1111's
# display names ("Euler a", "DPM2 a", "DPM++ 2S a", "UniPC") and the common `euler_a`.
SAMPLER_ALIASES: dict[str, str] = {
    "euler_a": "euler_ancestral",
    "k_euler_a": "euler_ancestral",
    "k_euler": "euler",
    "dpm2": "dpm_2",
    "dpm2_a": "dpm_2_ancestral",
    "dpm_2_a": "dpm_2_ancestral",
    "dpmpp_2s_a": "dpmpp_2s_ancestral",
    "unipc": "uni_pc",
    "uni_pc_bh": "uni_pc_bh2",
}


class UnknownSampler(ValueError):
    """A sampler name that maps to nothing ComfyUI knows; names the close matches."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; close matches: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"unknown sampler {name!r}{hint}")


@dataclass(frozen=True)
class SamplerChoice:
    """What a KSampler node receives."""

    sampler_name: str
    scheduler: str


def normalize(name: str) -> str:
    """`"DPM++ 2M Karras"` -> `"dpmpp_2m_karras"`; `"Euler a"` -> `"euler_a"`."""
    s = name.strip().lower().replace("++", "pp")
    s = re.sub(r"[\s\-]+", "_", s)
    return re.sub(r"_+", "_", s).strip("_")


def _sampler(part: str) -> str | None:
    if part in SAMPLER_NAMES:
        return part
    return SAMPLER_ALIASES.get(part)


def resolve_sampler(name: str, default_scheduler: str) -> SamplerChoice:
    """Map a friendly sampler name to ComfyUI's `sampler_name` + `scheduler`.

    Rules, in order: an exact ComfyUI sampler (or alias) keeps `default_scheduler` (the
    template's); otherwise `<sampler>_<scheduler>` where the suffix is a ComfyUI scheduler,
    taking the longest sampler prefix (`dpmpp_2m_sde_karras` is dpmpp_2m_sde + karras, not
    dpmpp_2m + sde_karras). Raises `UnknownSampler` listing close matches."""
    key = normalize(name)
    exact = _sampler(key)
    if exact is not None:
        return SamplerChoice(exact, default_scheduler)
    parts = key.split("_")
    # Longest sampler first: the split point moves left, so the first hit is the longest.
    for cut in range(len(parts) - 1, 0, -1):
        sampler = _sampler("_".join(parts[:cut]))
        scheduler = "_".join(parts[cut:])
        if sampler is not None and scheduler in SCHEDULER_NAMES:
            return SamplerChoice(sampler, scheduler)
    raise UnknownSampler(name, _close_matches(key))


def _close_matches(key: str) -> list[str]:
    vocabulary = [*SAMPLER_NAMES, *SAMPLER_ALIASES]
    vocabulary += [f"{s}_{k}" for s in SAMPLER_NAMES for k in ("karras", "simple", "normal")]
    return difflib.get_close_matches(key, vocabulary, n=5, cutoff=0.6)
