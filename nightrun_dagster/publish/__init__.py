"""Publish-ready packages for approved variants: crops, MP4s, caption, checklist, manifest."""
