"""The ``evictsim`` command line."""
