"""Completes a file path as it is typed (the rest of the name shown dim; → or End accepts it)."""

from __future__ import annotations

from pathlib import Path

from textual.suggester import Suggester


class PathSuggester(Suggester):
    """Suggest the first entry of the typed folder that starts with the typed name (folders end in '/')."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # the file system changes; don't cache

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, prefix = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if p.name.startswith(prefix))
        except OSError:
            return None
        for name in names:
            hidden = name.startswith(".") and not prefix.startswith(".")
            if not hidden and name != prefix:
                return value + name[len(prefix):]
        return None
