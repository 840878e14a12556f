"""`python -m bot …` sub-commands. Each module in COMMAND_MODULES has `add_parser(subparsers)`, which sets
`handler=callable(args, settings) -> int` (sync or async) on its parser."""

COMMAND_MODULES = [
    "bot.cli.serve",
    "bot.cli.db",
    "bot.cli.manifest",
    "bot.cli.roles",
    "bot.cli.audit",
    "bot.cli.report",
    "bot.cli.worker",
]
