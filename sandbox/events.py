"""The one event library: events/*.json, used by `sam local invoke`, the console, the sandbox and tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> Any:
    """events/<name>.json parsed (name may include a sub-folder, without the .json suffix)."""
    return json.loads((EVENTS / f"{name}.json").read_text())
