"""The Microsoft 365 Agents SDK edge (microsoft-agents-* 1.9, pinned by minor version in pyproject.toml)."""

from bot.edge.agents.adapter import AgentsEdge, build

__all__ = ["AgentsEdge", "build"]
