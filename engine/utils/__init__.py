"""Small shared helpers: registries, atomic file writes, GPU presence."""
