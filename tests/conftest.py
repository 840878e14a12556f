import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["tests.db_fixtures", "tests.doubles.fixtures", "tests.app_fixtures"]


@pytest.fixture(autouse=True)
def _temporary_files_under_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files a test makes with tempfile (each bot's erasure log holds person ids) go under the test's tmp_path,
    which pytest prunes, instead of piling up in /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run the fuzz suite with many more examples per target than CI does")
