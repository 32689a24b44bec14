"""bench: performance of the handoff measured beside a baseline in the same run (``make bench``).

Each section (:mod:`bench.validation`, :mod:`bench.snapshots`, :mod:`bench.latency`,
:mod:`bench.end_to_end`, :mod:`bench.model_quality`) returns :class:`bench.results.Result` rows; the
runner (:mod:`bench.__main__`) prints them as a table and writes ``bench/results.json``.
"""
