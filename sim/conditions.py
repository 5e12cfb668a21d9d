"""Conditions shared by the population and its command line (kept import-light)."""

TEACH_TEMPERATURE_C = (5.0, 35.0)
"""A field teach happens at whatever the day's temperature is, within this range."""
