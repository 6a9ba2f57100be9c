"""Projections: views built from events, in batch and live, exactly once in the store's database."""

from histoire.app.projections.context import ProjectionContext
from histoire.app.projections.definition import Projection
from histoire.app.projections.documents import Documents
from histoire.app.projections.runner import ProjectionRunner, RunReport

__all__ = ["Documents", "Projection", "ProjectionContext", "ProjectionRunner", "RunReport"]
