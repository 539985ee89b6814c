"""Bytewax dataflows: wiring connectors to the pure operators."""
