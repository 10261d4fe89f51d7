"""Process logging: human-readable lines for a terminal, one JSON object per line for log collectors.

``KIPSENSE_LOG_FORMAT=json`` switches a service to structured logs (what the compose stack sets); fields given
with ``log.info(..., extra={"device_id": ...})`` become keys of the JSON object. Processes that configure
logging themselves get the same format: spawned ingest workers call :func:`configure_logging`, and uvicorn
(whose worker processes apply its ``log_config`` on their own) is given :func:`uvicorn_log_config`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class LogSettings(BaseSettings):
    """How a process logs."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_LOG_", extra="ignore")

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(*, verbose: bool = False, settings: LogSettings | None = None) -> None:
    """Configure the root logger once per process (a no-op when it already has handlers, as under pytest)."""
    settings = settings or LogSettings()
    level = logging.DEBUG if verbose else getattr(logging, settings.level or "INFO")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


def uvicorn_log_config(settings: LogSettings) -> dict[str, Any]:
    """uvicorn's ``log_config``: its error and access logs in this process's format, in every worker process."""
    formatter: dict[str, Any] = (
        {"()": f"{JsonFormatter.__module__}.JsonFormatter"} if settings.format == "json" else {"format": TEXT_FORMAT}
    )
    level = settings.level or "INFO"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
