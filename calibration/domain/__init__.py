"""Data functions of the service: they validate, change the store, audit, notify.

They take a :class:`calibration.context.Context` and an actor (the key id
doing it), raise :mod:`calibration.errors`, and know nothing of HTTP, so the
serve loop and scripts call them directly.
"""
