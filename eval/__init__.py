"""Evaluation: the episode loop, suites, curves, tables and videos."""
