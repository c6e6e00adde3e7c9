"""Use cases. Each owns its transaction and is the only caller of the storage ports."""
