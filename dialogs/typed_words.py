"""What people type in the middle of a card journey, tidied so that "Cancel!" and "  cancel " read the same, and
the words that stop a journey."""

from __future__ import annotations

CANCEL_WORDS = frozenset({"cancel", "stop", "quit", "exit"})


def words(text: str) -> str:
    """Lower case, single spaces, without full stops, exclamation or question marks at either end."""
    return " ".join(text.lower().split()).strip(" .!?")
