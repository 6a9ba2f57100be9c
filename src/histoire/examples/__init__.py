"""Example domains shipped with histoire, used by the demo, the tests and the benchmarks."""
