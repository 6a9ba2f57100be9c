"""The histoire benchmark suite: `python -m benchmarks` from the repository root.

Every workload runs three ways on the same machine, the same kind of database
and the same durability settings, interleaved round by round:

- histoire (the code under test),
- the `eventsourcing` library (9.5.6), used the way its documentation shows,
- the physical limit: raw sqlite3 / psycopg doing the same writes and reads by
  hand, with nothing on top.

See docs/benchmarks.md for what each workload does and how to read the results.
Benchmarks are not tests: they never fail CI. `tests/test_benchmarks_smoke.py`
only checks that the suite runs.
"""

SUITE_VERSION = 1
