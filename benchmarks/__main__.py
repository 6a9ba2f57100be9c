"""`python -m benchmarks`: run the benchmark suite (see docs/benchmarks.md)."""

from benchmarks.cli import main

raise SystemExit(main())
