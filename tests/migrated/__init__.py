"""Tests of the migrated package: handlers API and shared resources."""
