"""The cost model: cost units, fits (linear recovery, ratio fallback, outliers, cold
renders), the estimated_time parser, priors and the estimate's fallbacks."""

import pytest

from nightrun_dagster.plan.cost_model import (
    CONTROLNET_FACTOR,
    DEFAULT_PER_UNIT_S,
    LORA_FACTOR,
    CostModel,
    CostSample,
    CostSource,
    estimated_time_seconds,
    fit,
    render_units,
    template_prior,
)
from nightrun_dagster.store.cost_docs import CostModelDocument, FitMethod

EP_A, EP_B = "http://gpu-a:8188", "http://gpu-b:8188"


def sample(
    units: float,
    seconds: float,
    *,
    endpoint: str = EP_A,
    version: str = "1.0.0",
    night: str = "2026-02-01",
    template: str = "t",
    cold: bool = False,
) -> CostSample:
    return CostSample(template, version, endpoint, units, seconds, night, cold)


def test_render_units_reference_and_factors() -> None:
    assert render_units({"width": 1024, "height": 1024, "steps": 20}) == 1.0
    assert render_units({"width": 832, "height": 480, "steps": 30, "frames": 49}) == pytest.approx(
        832 * 480 * 30 * 49 / (1024 * 1024 * 20)
    )
    loras = [{"enabled": True}, {"enabled": False}, {"enabled": True}]
    shape = {"width": 1024, "height": 1024, "steps": 20, "loras": loras, "controlnet": {"x": 1}}
    assert render_units(shape) == pytest.approx((1 + 2 * LORA_FACTOR) * CONTROLNET_FACTOR)
    # An image's frames (null) and a disabled ControlNet change nothing.
    assert render_units({"width": 1024, "height": 1024, "steps": 20, "frames": None}) == 1.0
    assert render_units({"width": 512, "height": 512, "steps": 20, "controlnet": None}) == 0.25


def test_linear_cost_recovered_exactly() -> None:
    samples = [
        sample(u, 2.0 + 3.0 * u, night=f"2026-02-0{i}") for i, u in enumerate((1, 2, 3, 4), 1)
    ]
    [entry] = fit(samples)
    assert entry.method == FitMethod.LINEAR
    assert entry.intercept_s == pytest.approx(2.0)
    assert entry.per_unit_s == pytest.approx(3.0)
    assert entry.samples == 4 and entry.outliers == 0
    assert (entry.units_min, entry.units_max) == (1, 4)
    assert entry.mae_pct == pytest.approx(0.0, abs=1e-9)
    assert entry.nights == ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"]


def test_ratio_when_too_few_samples_or_one_size() -> None:
    [two] = fit([sample(1.0, 10.0), sample(2.0, 30.0)])
    assert two.method == FitMethod.RATIO and two.intercept_s == 0
    assert two.per_unit_s == pytest.approx(40.0 / 3.0)
    [same_size] = fit([sample(2.0, 10.0), sample(2.0, 12.0), sample(2.0, 14.0)])
    assert same_size.method == FitMethod.RATIO
    assert same_size.per_unit_s == pytest.approx(6.0)
    assert same_size.mae_pct > 0


def test_negative_slope_falls_back_to_ratio_and_negative_intercept_is_clamped() -> None:
    [falling] = fit([sample(1.0, 10.0), sample(2.0, 9.0), sample(3.0, 8.0)])
    assert falling.method == FitMethod.RATIO
    assert falling.per_unit_s == pytest.approx(27.0 / 6.0)
    # seconds = -1 + 2u: the line through zero instead, intercept 0.
    [steep] = fit([sample(1.0, 1.0), sample(2.0, 3.0), sample(3.0, 5.0)])
    assert steep.intercept_s == 0.0
    assert steep.per_unit_s == pytest.approx((1 + 6 + 15) / (1 + 4 + 9))


def test_outlier_dropped() -> None:
    samples = [sample(u, 3.0 * u) for u in (1.0, 2.0, 3.0, 4.0)] + [sample(2.0, 300.0)]
    [entry] = fit(samples)
    assert entry.outliers == 1 and entry.samples == 4
    assert entry.per_unit_s == pytest.approx(3.0)


def test_cold_render_left_out_when_warm_ones_exist() -> None:
    # The first render loaded the models (nothing cached): 4× its cost, under the outlier
    # bar, it would still add a third to every render planned from three warm ones.
    warm = [sample(2.0, 20.0), sample(2.0, 22.0), sample(2.0, 18.0)]
    [entry] = fit([sample(2.0, 80.0, cold=True), *warm])
    assert entry.cold == 1 and entry.outliers == 0 and entry.samples == 3
    assert entry.per_unit_s == pytest.approx(10.0)
    # Only cold renders: the best there is, kept.
    [only_cold] = fit([sample(2.0, 80.0, cold=True), sample(1.0, 40.0, cold=True)])
    assert only_cold.cold == 0 and only_cold.samples == 2
    assert only_cold.per_unit_s == pytest.approx(40.0)


def test_fit_groups_by_template_version_endpoint() -> None:
    entries = fit([sample(1, 5), sample(1, 10, endpoint=EP_B), sample(1, 7, version="2.0.0")])
    assert [(e.version, e.endpoint, e.per_unit_s) for e in entries] == [
        ("1.0.0", EP_A, 5.0),
        ("1.0.0", EP_B, 10.0),
        ("2.0.0", EP_A, 7.0),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20-35 s on RTX 3080 10GB", 27.5),
        ("15-30 s on RTX 3080 10GB", 22.5),
        ("3-6 min on RTX 3080 10GB", 270.0),
        ("<2 s on any ComfyUI (CPU ok)", 2.0),
        ("45 s", 45.0),
        ("1.5 min", 90.0),
        ("10–20 seconds", 15.0),
        ("fast", None),
        ("", None),
        (None, None),
        ("20-35 on a 3080", None),
    ],
)
def test_estimated_time_seconds(text: str | None, seconds: float | None) -> None:
    assert estimated_time_seconds(text) == seconds


DEFAULTS = {"width": 1024, "height": 1280, "steps": 28, "frames": None}
UNITS = 1024 * 1280 * 28 / (1024 * 1024 * 20)


def test_priors_metadata_then_warmup_then_default() -> None:
    meta = template_prior("t", "1", DEFAULTS, "20-35 s on RTX 3080", [100.0])
    assert meta.source == CostSource.METADATA
    assert meta.units_at_default == pytest.approx(UNITS)
    assert meta.per_unit_s == pytest.approx(27.5 / UNITS)
    warm = template_prior("t", "1", DEFAULTS, "quick", [40.0, 60.0])
    assert warm.source == CostSource.WARMUP
    assert warm.seconds_at_default == pytest.approx(50.0)
    assert warm.per_unit_s == pytest.approx(50.0 / UNITS)
    default = template_prior("t", "1", DEFAULTS, None, [])
    assert default.source == CostSource.DEFAULT
    assert default.seconds_at_default == pytest.approx(DEFAULT_PER_UNIT_S * UNITS)


def model() -> CostModel:
    entries = fit(
        [sample(u, 2.0 * u, template="a") for u in (1.0, 2.0)]
        + [sample(u, 4.0 * u, template="a", endpoint=EP_B) for u in (1.0, 2.0)]
        + [sample(u, 1.0 * u, template="b") for u in (1.0, 2.0)]
        + [sample(u, 3.0 * u, template="c", version="0.9") for u in (1.0, 2.0)]
    )
    priors = [
        template_prior("d", "1", DEFAULTS, "20-35 s"),
        template_prior("e", "1", DEFAULTS, None, [10.0]),
        template_prior("c", "1.0", DEFAULTS, "20-35 s"),
    ]
    return CostModel(CostModelDocument(entries=entries, priors=priors))


def test_estimate_measured_on_the_endpoint() -> None:
    est = model().estimate("a", "1.0.0", 3.0, EP_B)
    assert (est.seconds, est.source, est.samples) == (pytest.approx(12.0), CostSource.MEASURED, 2)


def test_unknown_endpoint_uses_other_endpoints_scaled_by_its_speed() -> None:
    m = model()
    # No endpoint: the mean over the endpoints that rendered it.
    assert m.estimate("a", "1.0.0", 1.0).seconds == pytest.approx(3.0)
    # A new endpoint that never rendered anything: speed 1.0, the mean.
    unseen = m.estimate("a", "1.0.0", 1.0, "http://new:8188")
    assert unseen.source == CostSource.MEASURED and unseen.seconds == pytest.approx(3.0)
    # Template b ran only on A; B runs template a twice as slowly as A: b on B is 2 × 1 s.
    assert m.endpoint_speed(EP_B) == pytest.approx(2.0)
    assert m.estimate("b", "1.0.0", 1.0, EP_B).seconds == pytest.approx(2.0)


def test_other_version_measured_before_the_prior() -> None:
    est = model().estimate("c", "1.0", 2.0, EP_A)
    assert est.source == CostSource.MEASURED
    assert est.seconds == pytest.approx(6.0)
    assert "0.9" in est.detail


def test_unmeasured_templates_use_their_prior_or_the_default() -> None:
    m = model()
    meta = m.estimate("d", "1", UNITS, EP_A)
    assert meta.source == CostSource.METADATA and meta.seconds == pytest.approx(27.5)
    warm = m.estimate("e", "1", 2 * UNITS, EP_A)
    assert warm.source == CostSource.WARMUP and warm.seconds == pytest.approx(20.0)
    unknown = m.estimate("zzz", "1", 2.0, EP_A)
    assert unknown.source == CostSource.DEFAULT
    assert unknown.seconds == pytest.approx(2 * DEFAULT_PER_UNIT_S)
