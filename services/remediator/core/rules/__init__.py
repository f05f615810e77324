"""The rules file: its schema, loading it (with every problem found at once), and the engine
that matches an anomaly against it."""
