"""Help, privacy notice and the welcome buttons: reachable from every card and as commands (design §4)."""

from __future__ import annotations

from bot.features import Wiring
from bot.turns import Turn
from cards.basics import privacy_card
from vocabulary.actions.people import SHOW_HELP, SHOW_PRIVACY
from vocabulary.catalogue import NoPayload


def register(wiring: Wiring) -> None:
    bot = wiring.bot

    async def help_command(turn: Turn) -> None:
        await bot.send_help(turn)

    async def privacy(turn: Turn) -> None:
        current = await turn.core.notices.current()
        await turn.reply_card(privacy_card(current.text, current.version))

    async def help_action(turn: Turn, _: NoPayload) -> None:
        await help_command(turn)

    async def privacy_action(turn: Turn, _: NoPayload) -> None:
        await privacy(turn)

    wiring.commands.add("help", ["help", "what can you do", "menu", "hello", "hi"], help_command)
    wiring.commands.add("privacy", ["privacy", "privacy notice", "data protection"], privacy)
    wiring.actions.on_submit(SHOW_HELP, help_action)
    wiring.actions.on_submit(SHOW_PRIVACY, privacy_action)
    wiring.startup.append(wiring.core.notices.publish_repo_versions)
    wiring.startup.append(lambda: wiring.core.roles.seed_bootstrap_admins(wiring.core.settings.bootstrap_admins))
