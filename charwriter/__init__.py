"""charwriter: a terminal writing assistant driven by a character-level LSTM."""

__version__ = "0.1.0"
