"""The `nightrun` command."""
