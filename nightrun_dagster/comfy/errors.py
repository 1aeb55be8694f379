"""Typed outcomes of talking to ComfyUI: every failure a caller must tell apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ComfyError(Exception):
    """Base of every ComfyUI failure."""


class ComfyUnavailable(ComfyError):
    """The server cannot be reached, timed out, or answered 5xx."""


class ComfyProtocolError(ComfyError):
    """The server answered something the protocol does not allow."""


class ComfyValidationError(ComfyError):
    """`POST /prompt` rejected the graph (400), or accepted only part of it (200 with
    `node_errors`); nothing of it runs."""

    def __init__(self, message: str, error: dict[str, Any], node_errors: dict[str, Any]) -> None:
        super().__init__(message)
        self.error = error
        self.node_errors = node_errors


@dataclass(frozen=True)
class MissingModel:
    node_id: str
    class_type: str
    input_name: str
    name: str


class ComfyMissingModel(ComfyValidationError):
    """A loader names a model file the server does not have: retrying cannot help."""

    def __init__(
        self, models: list[MissingModel], error: dict[str, Any], node_errors: dict[str, Any]
    ) -> None:
        names = ", ".join(f"{m.name} ({m.class_type}.{m.input_name})" for m in models)
        super().__init__(f"missing model(s) on the server: {names}", error, node_errors)
        self.models = models


class ComfyMissingNode(ComfyValidationError):
    """The graph uses a node class the server does not have (a custom node not installed)."""

    def __init__(
        self, classes: list[str], error: dict[str, Any], node_errors: dict[str, Any]
    ) -> None:
        super().__init__(
            f"node class(es) not installed on the server: {', '.join(classes)}", error, node_errors
        )
        self.classes = classes


class ComfyExecutionError(ComfyError):
    """The prompt failed while running (`execution_error`)."""

    def __init__(self, prompt_id: str, detail: dict[str, Any], history: dict[str, Any]) -> None:
        self.prompt_id = prompt_id
        self.node_id = str(detail.get("node_id", ""))
        self.node_type = str(detail.get("node_type", ""))
        self.exception_type = str(detail.get("exception_type", ""))
        self.exception_message = str(detail.get("exception_message", "")).strip()
        self.history = history
        super().__init__(
            f"prompt {prompt_id} failed in node {self.node_id} ({self.node_type}): "
            f"{self.exception_type}: {self.exception_message}"
        )


class ComfyOOM(ComfyExecutionError):
    """CUDA ran out of memory: free the server's memory and retry smaller."""


class ComfyInterrupted(ComfyError):
    """The prompt was interrupted (by us after a stall, or by someone at the server)."""

    def __init__(self, prompt_id: str, history: dict[str, Any] | None = None) -> None:
        super().__init__(f"prompt {prompt_id} was interrupted")
        self.prompt_id = prompt_id
        self.history = history or {}


class ComfyStalled(ComfyError):
    """No progress for longer than the stall timeout; the prompt was interrupted and removed."""

    def __init__(self, prompt_id: str, seconds: float) -> None:
        super().__init__(f"prompt {prompt_id} made no progress for {seconds:.0f} s")
        self.prompt_id = prompt_id


class ComfyLost(ComfyError):
    """The prompt is in neither `/history` nor `/queue`: the server restarted and forgot it."""

    def __init__(self, prompt_id: str) -> None:
        super().__init__(f"prompt {prompt_id} is in neither history nor queue (server restart?)")
        self.prompt_id = prompt_id
