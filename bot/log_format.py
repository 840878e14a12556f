"""Log lines an attacker cannot forge: every control character in a message or its values is escaped, so text
that came from outside (an id, a header) can never start a new line in the log or hide part of one."""

from __future__ import annotations

import logging
import re

# C0, DEL, C1 and the two Unicode line separators: all end or hide a line in some log viewer.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    return CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}"
                                  if ord(match.group()) < 0x100 else f"\\u{ord(match.group()):04x}", text)


class SafeFormatter(logging.Formatter):
    """The message is escaped after formatting (its values included); a traceback keeps its own line breaks,
    which the formatter adds after the message."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
