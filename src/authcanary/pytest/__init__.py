"""authcanary's pytest integration: `plugin` (the entry point: options, markers), `session` (the run's session, a
plugin object holding the hooks), `expectations` (Expect: named checks, violations, outages), `control` (simulator
control plane), `fixtures` (what suites receive)."""
