"""The audit trail of one model run: request, responses, validation results, usage and outcome."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.errors import scrub_secrets
from agent.files import atomic_write, ensure_dir


class Transcript:
    """The audit of one conversation: the first request and every event after it."""

    def __init__(self, backend: str, model: str, started: datetime, request: dict[str, Any]) -> None:
        self.backend, self.model, self.started, self.request = backend, model, started, request
        self.events: list[dict[str, Any]] = []

    def add(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def save(self, folder: Path, outcome: dict[str, Any]) -> Path:
        """Write ``run_<ts>_<pid>.json`` (a new name each time), atomically, with every credential redacted."""
        consensus = folder.parent.parent  # logs/devops/ sits in the consensus folder
        ensure_dir(consensus, folder)
        stem = f"run_{self.started.strftime('%Y_%m_%d_%H_%M_%S')}_{os.getpid()}"
        path, n = folder / f"{stem}.json", 1
        while os.path.lexists(path):
            n += 1
            path = folder / f"{stem}_{n}.json"
        data = {
            "backend": self.backend,
            "model": self.model,
            "started": self.started.isoformat(),
            "request": self.request,
            "events": self.events,
            "outcome": outcome,
        }
        return atomic_write(path, scrub_secrets(json.dumps(data, indent=1, ensure_ascii=False, default=str)) + "\n")
