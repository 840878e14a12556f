"""Running `python -m bot …` as an operator does: a subprocess with a controlled environment, in a folder with no
`.env` of the developer's checkout."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every setting a developer's shell might hold is left out; only what a test gives is set.
BASE_ENV = {"PYTHONPATH": str(ROOT), "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        """What the operator reads on stderr, line by line."""
        return self.err.strip().splitlines()


def run_cli_sync(cwd: Path, *argv: str, seconds: float = 120, **env: str) -> Result:
    completed = subprocess.run([sys.executable, "-m", "bot", *argv], cwd=cwd, capture_output=True, text=True,
                               env={**BASE_ENV, **env}, timeout=seconds, check=False)
    return Result(completed.returncode, completed.stdout, completed.stderr)


async def run_cli(cwd: Path, *argv: str, seconds: float = 120, **env: str) -> Result:
    return await asyncio.to_thread(run_cli_sync, cwd, *argv, seconds=seconds, **env)
