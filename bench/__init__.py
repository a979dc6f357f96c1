"""Benchmarks: scripts run as ``python bench/<name>.py`` (see README.md), not a library.

``bench.servers`` (servers on loopback) is also what the tests start their servers with.
"""
