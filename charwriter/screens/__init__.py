"""Screens: the writing screen (write.py) and the training screen (train.py)."""
