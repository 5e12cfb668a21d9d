"""``python -m calibration``: the calibration service standalone (same as ``coinval api``)."""

from calibration.cli import main

raise SystemExit(main())
