"""Projections: views built from events, in batch and live, exactly once in the store's database."""

from histoire.app.projections.context import ProjectionContext
from histoire.app.projections.definition import Projection
from histoire.app.projections.documents import Documents
from histoire.app.projections.reading import read_model
from histoire.app.projections.runner import ProjectionRunner, RunReport
from histoire.app.projections.status import (
    ProjectionStatus,
    projection_status,
    wait_for_projection,
)

__all__ = [
    "Documents",
    "Projection",
    "ProjectionContext",
    "ProjectionRunner",
    "ProjectionStatus",
    "RunReport",
    "projection_status",
    "read_model",
    "wait_for_projection",
]
