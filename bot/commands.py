"""Typed commands (design §4): case-insensitive, tolerant of extra words, longest phrase wins."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.turns import Turn
from vocabulary.words import Role

CommandHandler = Callable[[Turn], Awaitable[None]]
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


@dataclass(frozen=True)
class Command:
    name: str
    phrases: tuple[tuple[str, ...], ...]
    handler: CommandHandler
    role: Role | None = None


class CommandRouter:
    def __init__(self) -> None:
        self._commands: list[Command] = []

    def add(self, name: str, phrases: list[str], handler: CommandHandler, role: Role | None = None) -> None:
        self._commands.append(Command(name, tuple(tuple(words(p)) for p in phrases), handler, role))

    def match(self, text: str) -> Command | None:
        said = words(text)
        best: tuple[int, Command] | None = None
        for command in self._commands:
            for phrase in command.phrases:
                if _contains(said, phrase) and (best is None or len(phrase) > best[0]):
                    best = (len(phrase), command)
        return best[1] if best else None

    def all(self) -> list[Command]:
        return list(self._commands)

    def names(self) -> list[str]:
        return [command.name for command in self._commands]


def _contains(said: list[str], phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return any(tuple(said[i:i + size]) == phrase for i in range(len(said) - size + 1))
