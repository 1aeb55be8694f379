"""Failures inside a prompt, shaped like the `execution_error` ComfyUI reports for them."""

from __future__ import annotations

import traceback

# ComfyUI's own frames above every node function (execution.py, as in the captures).
_EXECUTION_FRAMES = [
    '  File "/opt/ComfyUI/execution.py", line 496, in execute\n'
    "    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data("
    "prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, "
    "pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
    '  File "/opt/ComfyUI/execution.py", line 315, in get_output_data\n'
    "    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, "
    "input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, "
    "pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
    '  File "/opt/ComfyUI/execution.py", line 289, in _async_map_node_over_list\n'
    "    await process_inputs(input_dict, i)\n",
    '  File "/opt/ComfyUI/execution.py", line 277, in process_inputs\n'
    "    result = f(**inputs)\n"
    "             ^^^^^^^^^^^\n",
]

_LOAD_IMAGE_FRAMES = [
    '  File "/opt/ComfyUI/nodes.py", line 1647, in load_image\n'
    "    img = node_helpers.pillow(Image.open, image_path)\n"
    "          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
    '  File "/opt/ComfyUI/node_helpers.py", line 31, in pillow\n    x = fn(arg)\n        ^^^^^^^\n',
    '  File "/opt/ComfyUI/venv/lib/python3.11/site-packages/PIL/Image.py", line 3730, in open\n'
    "    raise UnidentifiedImageError(msg)\n",
]

_OOM_FRAMES = [
    '  File "/opt/ComfyUI/nodes.py", line 1525, in sample\n'
    "    return common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, "
    "negative, latent_image, denoise=denoise)\n",
    '  File "/opt/ComfyUI/nodes.py", line 1492, in common_ksampler\n'
    "    samples = comfy.sample.sample(model, noise, steps, cfg, sampler_name, scheduler, "
    "positive, negative, latent_image,\n",
    '  File "/opt/ComfyUI/comfy/sample.py", line 45, in sample\n'
    "    samples = sampler.sample(noise, positive, negative, cfg=cfg, latent_image=latent_image, "
    "start_step=start_step, last_step=last_step, force_full_denoise=force_full_denoise, "
    "denoise_mask=noise_mask, sigmas=sigmas, callback=callback, disable_pbar=disable_pbar, "
    "seed=seed)\n",
    '  File "/opt/ComfyUI/comfy/samplers.py", line 1163, in sample\n'
    "    return sample(self.model, noise, positive, negative, cfg, self.device, sampler, sigmas, "
    "self.model_options, latent_image=latent_image, denoise_mask=denoise_mask, "
    "callback=callback, disable_pbar=disable_pbar, seed=seed)\n",
    '  File "/opt/ComfyUI/comfy/samplers.py", line 1019, in sample\n'
    "    self.inner_model, self.conds, self.loaded_models = "
    "comfy.sampler_helpers.prepare_sampling(self.model_patcher, noise.shape, self.conds, "
    "self.model_options)\n",
    '  File "/opt/ComfyUI/comfy/sampler_helpers.py", line 137, in _prepare_sampling\n'
    "    comfy.model_management.load_models_gpu([model] + models, memory_required=memory_required "
    "+ inference_memory, minimum_memory_required=minimum_memory_required + inference_memory)\n",
    '  File "/opt/ComfyUI/comfy/model_management.py", line 704, in load_models_gpu\n'
    "    loaded_model.model_load(lowvram_model_memory, force_patch_weights=force_patch_weights)\n",
    '  File "/opt/ComfyUI/comfy/model_management.py", line 509, in model_load\n'
    "    self.model_use_more_vram(use_more_vram, force_patch_weights=force_patch_weights)\n",
    '  File "/opt/ComfyUI/comfy/model_management.py", line 538, in model_use_more_vram\n'
    "    return self.model.partially_load(self.device, extra_memory, "
    "force_patch_weights=force_patch_weights)\n",
]

OOM_TIPS = (
    "This error means you ran out of memory on your GPU.\n\n"
    "TIPS: If the workflow worked before you might have accidentally set the batch_size to a "
    "large number."
)


class NodeFailure(Exception):
    """A node raised: becomes `execution_error` (message ends with ComfyUI's newline)."""

    def __init__(self, exception_type: str, message: str, frames: list[str]) -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message
        self.frames = frames

    @property
    def traceback(self) -> list[str]:
        return _EXECUTION_FRAMES + self.frames

    @property
    def is_oom(self) -> bool:
        return "OutOfMemoryError" in self.exception_type

    @classmethod
    def from_exception(cls, ex: BaseException) -> NodeFailure:
        module = type(ex).__module__
        name = type(ex).__qualname__
        full = name if module == "builtins" else f"{module}.{name}"
        return cls(full, f"{ex}\n", traceback.format_tb(ex.__traceback__)[-3:])


class Interrupted(Exception):
    """POST /interrupt was noticed: becomes `execution_interrupted`."""


def unidentified_image(path: str) -> NodeFailure:
    return NodeFailure(
        "PIL.UnidentifiedImageError", f"cannot identify image file '{path}'\n", _LOAD_IMAGE_FRAMES
    )


def out_of_memory(requested_bytes: int, vram_total: int) -> NodeFailure:
    """A CUDA OOM as torch's cudaMallocAsync allocator words it, plus ComfyUI's tips."""
    gib = 1024**3
    total = vram_total / gib
    allocated = max(0.0, total - 0.69)
    message = (
        "Allocation on device 0 would exceed allowed memory. (out of memory)\n"
        f"Currently allocated     : {allocated:.2f} GiB\n"
        f"Requested               : {requested_bytes / gib:.2f} GiB\n"
        f"Device limit            : {total:.2f} GiB\n"
        "Free (according to CUDA): 0 bytes\n"
        "PyTorch limit (set by user-supplied memory fraction)\n"
        "                        : 17179869184.00 GiB"
    )
    return NodeFailure("torch.OutOfMemoryError", f"{message}\n{OOM_TIPS}", _OOM_FRAMES)


def node_error(message: str) -> NodeFailure:
    """A plain node failure (not an OOM), as a broken custom node raises it."""
    return NodeFailure("RuntimeError", f"{message}\n", _LOAD_IMAGE_FRAMES)
