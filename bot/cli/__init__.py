"""`python -m bot …` sub-commands, one module each (bot/__main__.py lists them in COMMAND_MODULES). Each has
`add_parser(subparsers)`, which sets `handler=callable(args, settings) -> int` (sync or async) on its parser."""
