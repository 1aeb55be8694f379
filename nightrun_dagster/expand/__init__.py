"""Variants from a job and a run mode: a capped, reproducible cartesian product."""
