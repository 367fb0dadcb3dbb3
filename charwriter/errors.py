"""User-facing errors: one clear line (what, where, what to do) and exit code 2.

Anything raised as a `UserError` is the user's input being wrong, not a bug: the command line prints
`str(error)` and exits 2, the app shows it as a notification. Never a traceback.
"""


class UserError(Exception):
    """Bad input from the user: a file, a model, an option. The message is shown as it is."""

    exit_code = 2


class CorpusError(UserError):
    """A training or evaluation text that cannot be used."""


class ModelFileError(UserError):
    """A model or checkpoint file that cannot be loaded."""
