"""JSON Schemas of job files: the only place defaults and allowed values live."""
