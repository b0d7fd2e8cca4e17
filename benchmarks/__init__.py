"""Benchmarks for evictsim. Each ``bench_*.py`` module runs as ``python3 -m benchmarks.<name>``.

They measure time and memory and print the numbers. They are not tests and assert no timing,
but ``tests/benchmarks/test_bench_smoke.py`` runs each one with ``--quick`` so they keep working.
"""
