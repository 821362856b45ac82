"""The merged view of a user's samples: one per real event or time slot across sources, chosen
by source priority, with the samples it stands for and the duplicates it hides linked to it.
Computed from the stored samples on demand for a window (never replacing them); the rules are
data (merge.yaml, engine.merge.rules)."""
