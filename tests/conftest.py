pytest_plugins = ["tests.db_fixtures", "tests.doubles.fixtures", "tests.app_fixtures"]
