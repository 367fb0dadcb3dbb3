"""User-facing errors: one clear line (what, where, what to do) and exit code 2.

Anything raised as a `UserError` is the user's input being wrong, not a bug: the command line prints
`str(error)` and exits 2, the app shows it as a notification. Never a traceback.
"""


MAX_SHOWN = 120  # a name in a one-line message is cut to this many characters: a 10,000-character name stays one line


def shown(name) -> str:
    """A path or a name as a one-line message shows it: at most `MAX_SHOWN` characters, the middle cut, on one
    line."""
    text = str(name).replace("\n", "\\n").replace("\r", "\\r")
    if len(text) <= MAX_SHOWN:
        return text
    half = (MAX_SHOWN - 1) // 2
    return f"{text[:half]}…{text[-half:]}"


class UserError(Exception):
    """Bad input from the user: a file, a model, an option. The message is shown as it is."""

    exit_code = 2


class CorpusError(UserError):
    """A training or evaluation text that cannot be used."""


class ModelFileError(UserError):
    """A model or checkpoint file that cannot be loaded."""
