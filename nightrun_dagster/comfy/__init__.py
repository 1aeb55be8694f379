"""ComfyUI: the async client, the render loop and the protocol-faithful emulator."""
