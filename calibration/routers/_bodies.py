"""OpenAPI descriptions of raw request bodies (read as bytes, validated by the core)."""

from __future__ import annotations

from typing import Any

from calibration.domain.signatures import UPLOAD_DOC

_LOSS_TRACE = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": 32,
    "maxItems": 4096,
    "description": "loss component of the coil's impedance change (v1.1); same length as eddy_lo",
}

_SIGNATURE = {
    "type": "object",
    "required": [
        "eddy_lo",
        "eddy_hi",
        "eddy_rate_hz",
        "rim",
        "thickness_mm",
        "speed_mm_s",
        "temperature_c",
    ],
    "properties": {
        "id": {"type": "string", "maxLength": 64},
        "head": {"type": "string"},
        "eddy_lo": {"type": "array", "items": {"type": "number"}, "minItems": 32, "maxItems": 4096},
        "eddy_hi": {"type": "array", "items": {"type": "number"}, "minItems": 32, "maxItems": 4096},
        "eddy_rate_hz": {"type": "number", "exclusiveMinimum": 0},
        "rim": {"type": "array", "items": {"type": "number"}, "minItems": 64, "maxItems": 8192},
        "thickness_mm": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        "speed_mm_s": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 5000},
        "temperature_c": {"type": "number", "minimum": -40, "maximum": 85},
        # Contract v1.1: optional, both or neither, each as long as eddy_lo
        # (a rule JSON Schema cannot say; the core checks it and names the field).
        "eddy_lo_loss": _LOSS_TRACE,
        "eddy_hi_loss": _LOSS_TRACE,
    },
    "dependentRequired": {"eddy_lo_loss": ["eddy_hi_loss"], "eddy_hi_loss": ["eddy_lo_loss"]},
}

SIGNATURES_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": UPLOAD_DOC,
        "content": {
            "application/json": {"schema": {"type": "array", "items": _SIGNATURE}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}

PROFILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A profile document exactly as `coinval teach` writes it.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["format", "schema_version", "coins"],
                    "properties": {
                        "format": {"type": "string", "const": "coinval-profile"},
                        "schema_version": {"type": "integer"},
                        "coins": {"type": "object"},
                    },
                }
            }
        },
    }
}
