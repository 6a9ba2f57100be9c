"""Reactions: events that cause commands (more events) and side effects; retries, parking."""

from histoire.app.reactions.context import ReactionContext, command_id_for
from histoire.app.reactions.definition import Reaction
from histoire.app.reactions.runner import ReactionReport, ReactionRunner

__all__ = ["Reaction", "ReactionContext", "ReactionReport", "ReactionRunner", "command_id_for"]
