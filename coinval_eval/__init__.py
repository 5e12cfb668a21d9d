"""Accuracy trials of the engine: the simulated trial, bench-k2, baselines, probes, ceilings.

Everything here measures; nothing here decides coins at a gate.
"""
