"""The list settings of the `comfyui` and `telegram` resources: from their environment variable,
from a list (Python or run config) or a comma-separated string, and a bad value named."""

from pathlib import Path

import dagster as dg
import pydantic
import pytest

from nightrun_dagster.definitions import build_defs
from nightrun_dagster.defs.resources import ComfyUIResource, TelegramResource

COMFYUI_URL, APPROVER_IDS = "COMFYUI_URL", "TELEGRAM_APPROVER_IDS"


def test_comfyui_urls_default_to_the_environment_then_the_local_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(COMFYUI_URL, raising=False)
    assert ComfyUIResource().urls == ["http://127.0.0.1:8188"]
    monkeypatch.setenv(COMFYUI_URL, "http://gpu1:8188/, http://gpu2:8188")
    assert ComfyUIResource().urls == ["http://gpu1:8188", "http://gpu2:8188"]
    # The code location's resource follows the variable unless given a URL.
    assert build_defs(tmp_path).resources["comfyui"].urls == [
        "http://gpu1:8188",
        "http://gpu2:8188",
    ]
    given = build_defs(tmp_path, "http://gpu3:8188").resources["comfyui"]
    assert given.urls == ["http://gpu3:8188"]


def test_comfyui_urls_as_a_list_or_a_comma_separated_string() -> None:
    assert ComfyUIResource(urls=["http://a:1", "https://b/"]).urls == ["http://a:1", "https://b"]
    assert ComfyUIResource(urls="http://a:1,http://b:2").urls == ["http://a:1", "http://b:2"]
    assert ComfyUIResource(urls="http://a:1,http://b:2").endpoints() == ["http://a:1", "http://b:2"]


def test_comfyui_urls_from_run_config_reach_the_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(COMFYUI_URL, raising=False)
    seen: list[list[str]] = []

    @dg.asset
    def servers(comfyui: ComfyUIResource) -> None:
        seen.append(comfyui.urls)

    config = {"resources": {"comfyui": {"config": {"urls": ["http://gpu1:8188/"]}}}}
    result = dg.materialize([servers], resources={"comfyui": ComfyUIResource()}, run_config=config)
    assert result.success
    assert seen == [["http://gpu1:8188"]]


def test_approver_ids_from_the_environment_a_list_or_a_string(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(APPROVER_IDS, raising=False)
    assert TelegramResource().approver_ids == []
    monkeypatch.setenv(APPROVER_IDS, "4242, 77")
    assert TelegramResource().approver_ids == [4242, 77]
    assert TelegramResource().approvers() == {4242, 77}
    assert TelegramResource(approver_ids=[5]).approver_ids == [5]
    assert TelegramResource(approver_ids="5,6").approver_ids == [5, 6]


@pytest.mark.parametrize(
    ("resource", "env", "setting", "message"),
    [
        (
            ComfyUIResource,
            {COMFYUI_URL: "http://gpu1:8188,gpu2:8188"},
            {},
            "$COMFYUI_URL: 'gpu2:8188' is not a ComfyUI URL",
        ),
        (
            ComfyUIResource,
            {},
            {"urls": ["localhost:8188"]},
            "urls: 'localhost:8188' is not a ComfyUI URL",
        ),
        (ComfyUIResource, {}, {"urls": " , "}, "urls: give at least one ComfyUI URL"),
        (
            TelegramResource,
            {APPROVER_IDS: "4242,marta"},
            {},
            "$TELEGRAM_APPROVER_IDS: 'marta' is not a Telegram user id",
        ),
        (
            TelegramResource,
            {},
            {"approver_ids": "4242;77"},
            "approver_ids: '4242;77' is not a Telegram user id",
        ),
    ],
)
def test_a_bad_value_names_the_variable_or_setting_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
    resource: type[dg.ConfigurableResource],
    env: dict[str, str],
    setting: dict[str, object],
    message: str,
) -> None:
    for name in (COMFYUI_URL, APPROVER_IDS):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(pydantic.ValidationError, match=message.replace("$", r"\$")):
        resource(**setting)
