"""The demo: the legacy PHP app, its strangler config, and the Python ports it migrates."""
