"""The application layer: command handling, loading state, snapshots."""
