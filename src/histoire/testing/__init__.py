"""Helpers for users' tests: given/when/then for deciders, the store contract suite."""

from histoire.testing.deciders import DeciderSpec, given

__all__ = ["DeciderSpec", "given"]
