"""Taking job files in: full validation (schema, semantics, sweep size) and the queue folder."""
