"""The raw archive and re-mapping from it."""
