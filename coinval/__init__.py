"""coinval: coin validation engine (signature, features, classifier, profile, CLI)."""

__version__ = "0.1.0"
