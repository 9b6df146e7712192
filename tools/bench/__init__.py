"""Every benchmark of the project: scripts that print figures (docs/benchmarks.md),
never timed tests. ``make bench`` runs them all, ``make bench-<area>`` one."""
