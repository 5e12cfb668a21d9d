"""Calibration service: operators teach, inspect, inhibit and roll back over HTTP."""
