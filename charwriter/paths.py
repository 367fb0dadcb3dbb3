"""Where charwriter keeps things: platformdirs' user data and config dirs, and the bundled models.

`CHARWRITER_HOME`, when set, puts data and config under one folder (tests and portable installs use it).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

APP = "charwriter"
DEFAULT_MODEL = "english"  # the bundled model that saves more keys on a new document of prose neither model read
# (models/README.md); "anna-karenina", the seed's, stays bundled


def data_dir() -> Path:
    home = os.environ.get("CHARWRITER_HOME")
    return Path(home) / "data" if home else Path(user_data_dir(APP))


def config_dir() -> Path:
    home = os.environ.get("CHARWRITER_HOME")
    return Path(home) / "config" if home else Path(user_config_dir(APP))


def cache_dir() -> Path:
    """What charwriter measured and can measure again (the precision each model runs fastest at here)."""
    home = os.environ.get("CHARWRITER_HOME")
    return Path(home) / "cache" if home else Path(user_cache_dir(APP))


def runs_dir() -> Path:
    return data_dir() / "runs"


def user_models_dir() -> Path:
    return data_dir() / "models"


def autosave_dir() -> Path:
    return data_dir() / "autosave"


def bundled_models_dir() -> Path:
    """`charwriter/bundled` in an installed wheel; the repository's `models/` in a checkout."""
    installed = Path(__file__).parent / "bundled"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "models"
