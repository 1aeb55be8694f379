"""`POST /prompt` validation, ported from ComfyUI 0.3.64 `execution.validate_prompt`.

The error dictionaries, their key order, the partial acceptance of a prompt whose outputs are only
partly valid and the quirks (an upstream failure leaves the output's own `details` empty; every
failing node lists each later failing output as dependent) are ComfyUI's. Inputs are checked in
their declared order, where ComfyUI iterates a set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Error = dict[str, Any]
_SCALARS = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN"})
Result = tuple[bool, list[Error], str]
# validate_prompt's answer: (valid, error, outputs to execute, node_errors).
Verdict = tuple[bool, Error | None, list[str], dict[str, Any]]

# Where ComfyUI's own frames point when a validation raises (paths as in the captures).
_TB_PROMPT = (
    '  File "/opt/ComfyUI/execution.py", line 1010, in validate_prompt\n'
    "    m = await validate_inputs(prompt_id, prompt, o, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
_TB_LINES = {
    KeyError: (
        '  File "/opt/ComfyUI/execution.py", line 788, in validate_inputs\n'
        "    o_class_type = prompt[o_id]['class_type']\n"
        "                   ~~~~~~^^^^^^\n"
    ),
    IndexError: (
        '  File "/opt/ComfyUI/execution.py", line 790, in validate_inputs\n'
        "    received_type = r[val[1]]\n"
        "                    ~^^^^^^^^\n"
    ),
}
_TB_OTHER = (
    '  File "/opt/ComfyUI/execution.py", line 768, in validate_inputs\n'
    "    inputs = prompt[unique_id]['inputs']\n"
    "             ~~~~~~~~~~~~~~~~~^^^^^^^^^^\n"
)


def _traceback(ex: Exception, inner: bool) -> list[str]:
    line = _TB_LINES.get(type(ex), _TB_OTHER)
    return [line] if inner else [_TB_PROMPT, line]


def _full_type_name(ex: Exception) -> str:
    module = type(ex).__module__
    name = type(ex).__qualname__
    return name if module in {"builtins", "__builtin__"} else f"{module}.{name}"


def _error(kind: str, message: str, details: str, **extra_info: Any) -> Error:
    """One of ComfyUI's error dictionaries, its keys (and `extra_info`'s) in ComfyUI's order."""
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def _refused(error: Error, node_errors: dict[str, Any] | None = None) -> Verdict:
    """validate_prompt's answer when nothing of the prompt may run."""
    return False, error, [], {} if node_errors is None else node_errors


def _node_input_ok(received: Any, wanted: Any) -> bool:
    """execution.validate_node_input: `*` matches anything; comma lists intersect."""
    if received == wanted or received == "*" or wanted == "*":
        return True
    if not isinstance(received, str) or not isinstance(wanted, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in wanted.split(",")}
    return bool(got & want)


class Validator:
    """One validation run over one prompt."""

    def __init__(
        self,
        prompt: dict[str, Any],
        object_info: dict[str, dict[str, Any]],
        custom_inputs: dict[str, tuple[str, ...]],
        custom_check: Callable[[str, str, Any], str | bool],
    ) -> None:
        self.prompt = prompt
        self.info = object_info
        self.custom_inputs = custom_inputs
        self.custom_check = custom_check  # (class_type, input name, value) -> True or reason
        self.validated: dict[str, Result] = {}

    def validate_inputs(self, unique_id: str) -> Result:
        if unique_id in self.validated:
            return self.validated[unique_id]
        node = self.prompt[unique_id]
        inputs = node["inputs"]
        class_type = node["class_type"]
        info = self.info[class_type]["input"]
        declared: dict[str, tuple[str, Any]] = {}
        for category in ("required", "optional"):
            for name, spec in info.get(category, {}).items():
                declared[name] = (category, spec)
        custom = self.custom_inputs.get(class_type, ())
        errors: list[Error] = []
        valid = True

        for x, (category, spec) in declared.items():
            input_type = spec[0]
            extra_info = spec[1] if len(spec) > 1 else {}
            if x not in inputs:
                if category == "required":
                    errors.append(
                        _error(
                            "required_input_missing",
                            "Required input is missing",
                            f"{x}",
                            input_name=x,
                        )
                    )
                continue
            val = inputs[x]
            config = [input_type, extra_info]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(
                        _error(
                            "bad_linked_input",
                            "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                            f"{x}",
                            input_name=x,
                            input_config=config,
                            received_value=val,
                        )
                    )
                    continue
                o_id = val[0]
                o_class_type = self.prompt[o_id]["class_type"]
                received_type = self.info[o_class_type]["output"][val[1]]
                if not _node_input_ok(received_type, input_type):
                    errors.append(
                        _error(
                            "return_type_mismatch",
                            "Return type mismatch between linked nodes",
                            f"{x}, received_type({received_type}) mismatch "
                            f"input_type({input_type})",
                            input_name=x,
                            input_config=config,
                            received_type=received_type,
                            linked_node=val,
                        )
                    )
                    continue
                try:
                    r = self.validate_inputs(o_id)
                    if r[0] is False:
                        valid = False
                        continue
                except Exception as ex:
                    valid = False
                    inner = _error(
                        "exception_during_inner_validation",
                        "Exception when validating inner node",
                        str(ex),
                        input_name=x,
                        input_config=config,
                        exception_message=str(ex),
                        exception_type=_full_type_name(ex),
                        traceback=_traceback(ex, inner=True),
                        linked_node=val,
                    )
                    self.validated[o_id] = (False, [inner], o_id)
                    continue
            else:
                if isinstance(val, dict) and "__value__" in val:
                    val = val["__value__"]
                    inputs[x] = val
                try:
                    if input_type == "INT":
                        val = int(val)
                    elif input_type == "FLOAT":
                        val = float(val)
                    elif input_type == "STRING":
                        val = str(val)
                    elif input_type == "BOOLEAN":
                        val = bool(val)
                    if isinstance(input_type, str) and input_type in _SCALARS:
                        inputs[x] = val  # ComfyUI keeps the converted value in the prompt
                except Exception as ex:
                    errors.append(
                        _error(
                            "invalid_input_type",
                            f"Failed to convert an input value to a {input_type} value",
                            f"{x}, {val}, {ex}",
                            input_name=x,
                            input_config=config,
                            received_value=val,
                            exception_message=str(ex),
                        )
                    )
                    continue
                if x in custom:
                    continue
                out_of_range = None
                if "min" in extra_info and val < extra_info["min"]:
                    out_of_range = ("value_smaller_than_min", "smaller than min", extra_info["min"])
                elif "max" in extra_info and val > extra_info["max"]:
                    out_of_range = ("value_bigger_than_max", "bigger than max", extra_info["max"])
                if out_of_range is not None:
                    kind, what, bound = out_of_range
                    errors.append(
                        _error(
                            kind,
                            f"Value {val} {what} of {bound}",
                            f"{x}",
                            input_name=x,
                            input_config=config,
                            received_value=val,
                        )
                    )
                    continue
                # Only V1 list combos: 0.3.64 does not check a V3 "COMBO" input's options
                # (SaveVideo format, UpscaleModelLoader model_name); a bad one fails at run time.
                if isinstance(input_type, list):
                    options = input_type
                    if val not in options:
                        input_config: Any = config
                        if len(options) > 20:
                            # ComfyUI does not echo long lists (scanned model folders).
                            list_info = f"(list of length {len(options)})"
                            input_config = None
                        else:
                            list_info = str(options)
                        errors.append(
                            _error(
                                "value_not_in_list",
                                "Value not in list",
                                f"{x}: '{val}' not in {list_info}",
                                input_name=x,
                                input_config=input_config,
                                received_value=val,
                            )
                        )
                        continue

        for x in custom:
            if x not in inputs or isinstance(inputs[x], list):
                continue
            outcome = self.custom_check(class_type, x, inputs[x])
            if outcome is not True:
                details = f"{x}" if outcome is False else f"{x} - {outcome}"
                errors.append(
                    _error(
                        "custom_validation_failed",
                        "Custom validation failed for node",
                        details,
                        input_name=x,
                    )
                )

        result: Result = (
            (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
        )
        self.validated[unique_id] = result
        return result


def validate_prompt(
    prompt: Any,
    object_info: dict[str, dict[str, Any]],
    custom_inputs: dict[str, tuple[str, ...]],
    custom_check: Callable[[str, str, Any], str | bool],
    partial_execution_targets: list[str] | None = None,
) -> Verdict:
    """(valid, error, outputs to execute, node_errors), like ComfyUI's."""
    outputs: list[str] = []
    for x in prompt:
        if "class_type" not in prompt[x]:
            return _refused(
                _error(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{x}'",
                )
            )
        class_type = prompt[x]["class_type"]
        info = object_info.get(class_type)
        if info is None:
            return _refused(
                _error(
                    "invalid_prompt",
                    f"Cannot execute because node {class_type} does not exist.",
                    f"Node ID '#{x}'",
                )
            )
        if info["output_node"] is True and (
            partial_execution_targets is None or x in partial_execution_targets
        ):
            outputs.append(x)

    if not outputs:
        return _refused(_error("prompt_no_outputs", "Prompt has no outputs", ""))

    validator = Validator(prompt, object_info, custom_inputs, custom_check)
    good_outputs: list[str] = []
    failures: list[tuple[str, list[Error]]] = []
    node_errors: dict[str, Any] = {}
    for o in outputs:
        try:
            valid, reasons, _ = validator.validate_inputs(o)
        except Exception as ex:
            valid = False
            reasons = [
                _error(
                    "exception_during_validation",
                    "Exception when validating node",
                    str(ex),
                    exception_type=_full_type_name(ex),
                    traceback=_traceback(ex, inner=False),
                )
            ]
            validator.validated[o] = (False, reasons, o)
        if valid is True:
            good_outputs.append(o)
            continue
        failures.append((o, reasons))
        for node_id, (node_valid, node_reasons, _) in validator.validated.items():
            if node_valid is not True and node_reasons:
                if node_id not in node_errors:
                    node_errors[node_id] = {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    }
                node_errors[node_id]["dependent_outputs"].append(o)

    if not good_outputs:
        details = "\n".join(
            f"{error['message']}: {error['details']}" for _, errors in failures for error in errors
        )
        failed = _error(
            "prompt_outputs_failed_validation", "Prompt outputs failed validation", details
        )
        return _refused(failed, node_errors)
    return True, None, good_outputs, node_errors
