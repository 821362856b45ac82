"""Data the engine ships with: the spec language's JSON Schemas, the sample catalogue and the
vendor specs. In a checkout these are links to the top-level `schemas/` and `vendors/` (the
editable copies); a built wheel carries the files themselves."""
