"""One router per resource of the calibration API."""
