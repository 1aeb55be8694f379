"""ComfyUI API-format workflow templates: discovery, metadata and content hashes."""
