"""Input formats: one package per format family behind a small parser base class (base), and
the registry (registry) that tells an object's format by content and parses it."""
