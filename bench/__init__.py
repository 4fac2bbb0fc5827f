"""Causerie's benchmarks: ``python -m bench`` (``make bench``, ``make bench-quick``).

Every figure is measured next to a baseline in the same run on the same machine (a
hand-written SQL query, a bare Django view, a bare COPY), so the ratios hold anywhere.
"""
