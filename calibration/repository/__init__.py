"""The repository: plain SQL over :class:`calibration.db.Tx`, one module per table group.

Functions here run inside a transaction the caller opened, take and return
plain values and dicts, and know nothing of HTTP or of the coinval engine.
"""
