"""The Dagster layer: partitions, resources, assets, sensors and jobs wired to domain code."""
