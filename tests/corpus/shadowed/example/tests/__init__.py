"""The example project's own tests (none here): the package that would shadow tests.settings."""
