"""Manual benchmarks (not part of CI); run with ``python -m benchmarks.<name>``."""
