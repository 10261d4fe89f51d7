"""Alerting housekeeping: escalation of forgotten alerts and grouping of alerts into incidents."""
