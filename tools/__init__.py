"""Scripts that measure the project from outside, kept apart from the code
they measure: ``tools/bench/`` (every benchmark; figures in
docs/benchmarks.md) and ``tools/reliability/`` (load, crash and race against
a real gunicorn; figures in docs/reliability.md). Each is run from the
project folder as a module, ``python -m tools.bench.<name>``, or through its
``make bench-<area>`` target. Nothing in the apps imports from here."""
