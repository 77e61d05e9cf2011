"""A bulky implementation.json (40,000 tasks: 18.7 MB, or 13 MB with 55-character notes), for the budget test and the benchmark."""

from __future__ import annotations

import json
from pathlib import Path


def write_bulk_implementation(path: Path, tasks: int = 40_000, note_chars: int = 200) -> None:
    data = json.loads(path.read_text())
    data["tasks_completed"] = [
        {
            "task_id": f"T{i}",
            "status": "complete",
            "files_created": [f"src/m{i}/health_{i}.py"],
            "files_modified": [f"src/m{i}/__init__.py"],
            "lines_added": i,
            "lines_removed": 0,
            "test_results": {"tests_written": 3, "tests_passing": 3, "coverage": 90},
            "notes": "x" * note_chars,
        }
        for i in range(tasks)
    ]
    path.write_text(json.dumps(data))
