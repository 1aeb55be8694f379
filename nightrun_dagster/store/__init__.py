"""The artifact tree: paths, atomic writes and sidecars (stdlib only)."""
