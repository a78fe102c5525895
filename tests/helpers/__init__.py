"""Test helpers: writers of small trees in the real dataset formats, and the CLI runner."""
