"""Guarantees: suites that try to break what docs/guarantees.md promises."""
