"""Choosing what a person sees: near-duplicate and variant clusters, top K per cluster, top N."""
