"""Night Runs on Dagster: creative jobs in, publish-ready ad creatives out."""
