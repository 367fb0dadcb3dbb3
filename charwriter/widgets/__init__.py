"""Widgets of the writing screen and the dialogs, one per module."""
