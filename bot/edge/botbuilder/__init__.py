"""The botbuilder 4.17 edge (archived upstream; selectable with BOT_SDK=botbuilder)."""

from bot.edge.botbuilder.adapter import BotbuilderEdge, build

__all__ = ["BotbuilderEdge", "build"]
