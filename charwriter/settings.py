"""The user's settings: a dataclass stored as JSON in platformdirs' config dir, written atomically.

Unknown keys are ignored and a broken file reads as the defaults, so an older or newer charwriter never refuses
to start over its settings; but a file that is not JSON is first copied aside (`settings.broken.json`), so that the
next save does not destroy the user's hand edits, and `Settings.problem` says what happened, for the app to show.
Torch-free: the editor reads these before its first frame.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from charwriter import paths
from charwriter.documents import atomic_write_text
from charwriter.engine.settings import PRECISIONS, user_field  # noqa: F401 - PRECISIONS: the setting's values
from charwriter.errors import shown


RECENT = 10
"""Documents remembered for Open."""

GREY_FLOOR = 0.05
"""The grey text is drawn when the model gives its first word at least this probability (`Settings.grey_floor`)."""

OWN_RANGES = {"debounce_ms": (0, 5000), "autosave_seconds": (0.1, 3600.0)}
"""Bounds of the numeric settings of the app's own (the engine's carry theirs: `charwriter.engine.settings`)."""


@dataclass
class Settings:
    """The engine's settings the writer sets are `user_field`s: their defaults and bounds are the engine's
    (`charwriter.engine.settings.EngineSettings`), under the names this file has always used."""

    model: str | None = None  # name or path of the model last picked in the app; None: the bundled default
    temperature: float = user_field("temperature")  # below 1 is safer and more repetitive, above 1 wilder
    suggestions: int = user_field("k")  # K: the ghost text and the other likeliest words, shown at once in the pane
    max_length: int = user_field("max_len")  # L: characters per continuation (they also stop at a sentence's end)
    top_k: int = user_field("top_k")  # sample each character from the k most likely, as the seed did
    greedy: bool = user_field("greedy")  # always the most likely character: repeatable, the continuations alike
    grey_floor: float = user_field("ghost_floor", GREY_FLOOR)  # draw the grey text only when the model gives its
    # first word this probability; an unsure one waits in the pane (Alt+Down draws it). 0: always. Tuned on the
    # English model's held-out text: docs/benchmarks.md
    memory: bool = user_field("memory")  # learn the document's names and phrases while writing (off: the model alone)
    adapt: bool = True  # fine-tune a copy of the model on the document in the background (off: the model as trained)
    debounce_ms: int = 25  # wait this long after a keystroke before asking the model, so a burst costs one run
    autosave_seconds: float = 1.0  # the unsaved buffer is written at most this long after a change
    precision: str = user_field("precision")  # the suggestions' step: auto (measured once per model and machine), or
    # fp32, bf16, fp16, int8
    recent: list = field(default_factory=list)  # documents last opened or saved, newest first (Open lists them)

    problem: ClassVar[str | None] = None
    """What was wrong with the file at the last `load()` (one line: what, where, what was done), or None."""

    @staticmethod
    def path() -> Path:
        return paths.config_dir() / "settings.json"

    @classmethod
    def load(cls) -> "Settings":
        path = cls.path()
        Settings.problem = None
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            Settings.problem = f"cannot read {path} ({type(error).__name__}): using the default settings"
            return cls()
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            kept = path.with_name("settings.broken.json")
            try:
                atomic_write_text(kept, raw)
                where = f"kept as {kept}"
            except OSError:
                where = "it will be replaced when a setting changes"
            Settings.problem = f"{path} is not valid settings ({error}): using the defaults; your file is {where}"
            return cls()
        known, wrong = cls._checked(data, cls())
        if wrong:
            Settings.problem = f"{path}: ignored {', '.join(wrong)} (wrong type): using the default for them"
        return cls(**known)

    @classmethod
    def _checked(cls, data: dict, base: "Settings") -> tuple[dict, list[str]]:
        """Every field: `data`'s value where it has the right type (and range), else `base`'s; and the names of the
        fields whose value in `data` was wrong."""
        known, wrong = {}, []
        for f in fields(cls):
            default = getattr(base, f.name)
            value = data.get(f.name, default)
            # A hand-edited file with a wrong type falls back to the default for that key only.
            if f.name == "model":
                bad = value is not None and not isinstance(value, str)  # the model: a name, a path, or none
            else:
                int_for_float = isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)
                bad = (not isinstance(value, type(default)) and not int_for_float) or \
                    (isinstance(value, bool) and not isinstance(default, bool))
            choices = f.metadata["option"].choices if "option" in f.metadata else None
            if choices and value not in choices:
                bad = True
            if not bad and f.name in RANGES:
                low, high = RANGES[f.name]
                bad = not low <= value <= high
            if f.name == "recent" and not bad:
                value = [p for p in value if isinstance(p, str)][:RECENT]
            if bad:
                value = default
                wrong.append(f.name)
            known[f.name] = value
        return known, wrong

    def updated(self, data: dict) -> tuple["Settings", list[str]]:
        """These settings with `data`'s values (a language server's options, by field name); and one line per key
        that was ignored (unknown, or a wrong type or value), saying what the key takes."""
        known, wrong = self._checked(data, self)
        names = {f.name for f in fields(self)}
        problems = [f"unknown setting {key!r} (known: {', '.join(sorted(names - {'recent'}))})"
                    for key in data if key not in names]
        problems += [f"setting {name!r} cannot be {data[name]!r}: {TAKES.get(name, 'see the settings file')}"
                     for name in wrong]
        return type(self)(**known), problems

    def remember_document(self, path: str | Path) -> None:
        """Put `path` first in the recent documents (and save the settings)."""
        path = str(Path(path).expanduser().resolve())
        self.recent = [path] + [p for p in self.recent if p != path][: RECENT - 1]
        self.save()

    def save(self) -> str | None:
        """Write the settings; -> None, or why they could not be written (one line): a read-only or unusable config
        folder keeps a change for this session only, it never stops the editor."""
        try:
            atomic_write_text(self.path(), json.dumps(asdict(self), indent=2) + "\n")
        except OSError as error:
            return (f"settings not saved ({shown(self.path())}: {error.strerror or error}): the change holds until you"
                    " quit")
        return None


RANGES = {f.name: (f.metadata["option"].low, f.metadata["option"].high) for f in fields(Settings)
          if "option" in f.metadata and f.metadata["option"].low is not None} | OWN_RANGES
"""Bounds of the numeric settings: a value outside them (a hand edit, a language server's option) is not used."""

TAKES = {"model": "a model name (see `charwriter models`) or a path, or null for the default",
         "precision": "one of " + ", ".join(PRECISIONS),
         **{name: f"a number from {low} to {high}" for name, (low, high) in RANGES.items()},
         **dict.fromkeys(("greedy", "memory", "adapt"), "true or false")}
"""What each setting takes, for the one line that refuses a wrong value."""
