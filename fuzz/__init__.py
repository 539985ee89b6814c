"""Fuzz harnesses of MidStream's parsers and entry points (atheris; see fuzz/README.md)."""
