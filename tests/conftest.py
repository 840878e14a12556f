import importlib.util

pytest_plugins = ["tests.db_fixtures"]
if importlib.util.find_spec("tests.doubles.fixtures"):
    pytest_plugins.append("tests.doubles.fixtures")
