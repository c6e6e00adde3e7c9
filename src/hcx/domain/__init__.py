"""The pure core: drafts, findings, validation, lifecycle, deadlines, treaty status."""
