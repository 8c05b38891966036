"""The `journey-studio` command line."""
