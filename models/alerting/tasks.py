"""The alerting tasks the scorer's housekeeper runs: escalation and incident grouping."""

from __future__ import annotations

from models.alerting.escalation import Escalation
from models.alerting.incidents import IncidentGrouping
from models.alerting.settings import AlertingSettings
from models.housekeeping import Periodic


def periodic(settings: AlertingSettings | None = None) -> tuple[Periodic, ...]:
    """Both tasks with their periods (settings from ``KIPSENSE_ALERTING_...`` when not given)."""
    s = settings or AlertingSettings()
    return (
        Periodic("alert-escalation", s.escalation_every_s, Escalation(s)),
        Periodic("incident-grouping", s.incident_every_s, IncidentGrouping(s)),
    )
