"""The parts of histoire.testing.contract, one concern per module."""
