"""The artifact tree: paths, atomic writes and the typed documents it holds."""
