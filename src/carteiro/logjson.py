"""Structured JSON log lines (the seed's fields), chosen with CARTEIRO_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# The seed's fields; a log call fills them with `extra={"tenantId": …, "action": …}`.
FIELDS = ("tenantId", "leadId", "action", "result", "duration", "error")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "carteiro") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            line[name] = value
        if record.exc_info and not line.get("error"):
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, ensure_ascii=False, default=str)
