"""Encoding and decoding of events: type registry and upcaster chain."""
