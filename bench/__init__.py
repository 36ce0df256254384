"""Benchmarks (not tests): each module runs as a script, ``python bench/<name>.py``."""
