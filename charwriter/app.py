"""The charwriter Textual app: the writing screen as its default screen, global keys and palette commands.

`charwriter` (or `charwriter write [FILE] [--model M]`) runs `CharwriterApp`. The training screen
(`charwriter.screens.train.TrainScreen`, Ctrl+T) is pushed on top of the writer, the same one each time (what the
form holds is kept); `charwriter train --tui CORPUS` opens it at start. The app owns the training runs
(`RunsOwner`: `app.runs`), so a run that ends while the writer writes says so wherever they are, and the training
screen asks for "Write with this model" with a `UseModel` message.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import TextArea

from charwriter.run_service import RunsOwner
from charwriter.terminal_input import Flood, flood_driver
from charwriter.settings import Settings
from charwriter.screens.write import WriteScreen
from charwriter.dialogs.help import HelpScreen


EDITING_KEYS = {
    "undo": "Undo the last edit (typing, an accepted suggestion, a replace)",
    "redo": "Redo what was undone",
    "cut": "Cut the selection (or the line)",
    "copy": "Copy the selection",
    "paste": "Paste",
    "select_all": "Select the whole document",
    "delete_word_left": "Delete the word before the cursor",
    "delete_to_start_of_line": "Delete from the cursor to the start of the line",
    "delete_to_end_of_line_or_delete_line": "Delete from the cursor to the end of the line",
}
"""TextArea's editing keys that the help lists beside charwriter's own (the rest are the usual arrows, Home, End)."""


def _read_preview(spec: str | None) -> None:
    """Read the model file for the first grey text (`charwriter.lm.preview`) beside Textual's start; the writing
    screen's model worker computes it, then imports torch (seconds: imported here, it would hold up that text)."""
    try:
        from charwriter.lm.preview import preview_of
        from charwriter.lm.registry import resolve_model

        preview_of(resolve_model(spec))
    except Exception:  # noqa: BLE001 - the model worker reads the file again and reports what is wrong
        pass


class CharwriterApp(RunsOwner, App[None]):
    # The writing screen's CSS is listed here as well: Textual 8 loads a screen's CSS_PATH when the screen is pushed
    # or installed as a mode, but not for the screen that `get_default_screen` returns.
    CSS_PATH = ["app.tcss", "screens/write.tcss"]
    TITLE = "charwriter"

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True,
                tooltip="Quit (asks first when there are unsaved changes)"),
        Binding("f1", "help", "Help", id="help", tooltip="Show what charwriter does and every key"),
        Binding("ctrl+t", "train", "Train", id="train", show=False, tooltip="Train a model on a text file"),
    ]

    def __init__(self, file: str | Path | None = None, model: str | None = None, train_corpus: str | None = None,
                 settings: Settings | None = None, precision: str | None = None, train_options: dict | None = None,
                 train_name: str | None = None) -> None:
        """`model` and `precision` are for this session only; a model picked in the app (F2) is remembered in the
        settings. `train_corpus` opens the training screen at start, its form filled with it, `train_options` (the
        command line's hyperparameters) and `train_name`."""
        super().__init__()
        self.settings = settings if settings is not None else Settings.load()
        self.settings_problem = Settings.problem if settings is None else None
        self.file = file
        self.model = model
        self.train_corpus = train_corpus
        self.train_options, self.train_name = train_options, train_name
        self.precision = precision
        # numpy and the model file for the first grey text, beside Textual's start (torch comes after that text).
        # Not a daemon: an exit during the read waits for it rather than tearing down a half-loaded extension.
        threading.Thread(target=_read_preview, args=(model or self.settings.model,), name="charwriter-preview").start()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, Flood):
            # Keys faster than anyone types (a paste from a terminal without bracketed paste): one paste into the
            # editor; any other widget gets the keys, as Textual would have sent them
            focused = self.focused
            if isinstance(focused, TextArea) and not focused.read_only:
                await self.on_event(event.as_paste())
            else:
                for key in event.as_keys():
                    key.set_sender(self)
                    await self.on_event(key)
            return
        # A terminal sends Alt+A as ESC then "a", which Textual reports as key "alt+a" with character "a": an Input or
        # the TextArea with the focus inserts the "a" and stops the key before any binding sees it (the Pilot sends
        # no character, so only a real terminal shows this). An Alt key never types its letter here: it is a key for
        # the bindings (Alt+A replaces all, Alt+C toggles case, Alt+S picks, Alt+T types a tab).
        if isinstance(event, events.Key) and not event.is_forwarded and "alt" in event.key.split("+")[:-1]:
            event.character = None
            # Its bindings run in the focused widget's queue, in order with the keys typed before it (still waiting
            # there: run at once, Alt+T's tab went before them) and those after it. Forwarded as a key, it would
            # reach the bindings only once it had bubbled back up, after a letter typed right after it.
            focused = self.focused
            if focused is not None:
                focused.call_later(self._alt_key, event)
                return
            await self._alt_key(event)
            return
        await super().on_event(event)

    async def _alt_key(self, event: events.Key) -> None:
        if not (await self._check_bindings(event.key, priority=True) or await self._check_bindings(event.key)):
            await super().on_event(event)

    def get_driver_class(self):
        # A paste from a terminal without bracketed paste is taken as one paste, not a key per character
        return flood_driver(super().get_driver_class())

    def get_default_screen(self) -> Screen:
        return WriteScreen(self.file, self.model, self.settings, self.precision)

    @property
    def writer(self) -> WriteScreen:
        """The writing screen: always at the bottom of the screen stack."""
        screen = self.screen_stack[0]
        assert isinstance(screen, WriteScreen)
        return screen

    def on_mount(self) -> None:
        if self.settings_problem:
            self.notify(self.settings_problem, title="Settings", severity="warning", timeout=15)
        if self.train_corpus is not None:
            self.call_after_refresh(self.action_train, self.train_corpus)

    # --- hooks for other screens ---------------------------------------------------------------------------------

    def on_use_model(self, message) -> None:
        """The training screen's "Write with this model": from now on, and remembered."""
        self.writer.use_model(Path(message.path), remember=True)

    def action_train(self, corpus: str = "") -> None:
        """Open the training screen (imported on demand: it pulls in plotting). One instance, kept between visits."""
        try:
            from charwriter.screens.train import TrainScreen
        except ImportError as error:
            self.notify(f"the training screen is not available: {error}", severity="error")
            return
        if isinstance(self.screen, TrainScreen):  # Ctrl+T on the training screen itself: already there
            return
        if not self.is_screen_installed("train"):
            self.install_screen(TrainScreen(corpus or None, self.train_options, self.train_name), "train")
        elif corpus:
            self.get_screen("train").set_corpus(corpus)
        self.push_screen("train")

    # --- global actions -------------------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        writer = self.writer

        def leave() -> None:
            writer.discard_autosave()
            self.exit()

        # A training run asks first (stop and save, or cancel).
        self.runs.confirm_stop(lambda: writer.confirm_discard(leave))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        own, editing = [], []  # charwriter's keys first, then the editing keys of TextArea a writer looks for
        seen = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if (binding.id is None and binding.action not in EDITING_KEYS) or binding.action in seen:
                continue
            seen.add(binding.action)  # each action once, at its first key
            (own if binding.id else editing).append((
                self.get_key_display(binding), binding.description or binding.action,
                active.tooltip or binding.tooltip or EDITING_KEYS.get(binding.action, "")))
        keys = own + editing
        keys.append(("1…9, ↑↓ enter", "Insert", "In the suggestions pane: insert that continuation"))
        keys.append(("^p", "Palette", "Every command by name"))
        self.push_screen(HelpScreen(keys))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own "Keys" (its key panel) would sit next to "Keys and help" below: one entry is enough.
        yield from (command for command in super().get_system_commands(screen) if command.title != "Keys")
        if not isinstance(screen, WriteScreen):
            return
        yield SystemCommand("Save", "Save the document (Ctrl+S)", screen.action_save)
        yield SystemCommand("Open…", "Open a text file (Ctrl+O)", screen.action_open)
        yield SystemCommand("Save as…", "Save the document under a new name (F12)", screen.action_save_as)
        yield SystemCommand("New document", "An empty, untitled document (Ctrl+N)", screen.action_new_document)
        yield SystemCommand("Focus mode", "Hide or show the suggestions pane (F4)", screen.action_focus_mode)
        yield SystemCommand("Choose a model", "Pick the model that writes with you (F2)", screen.action_pick_model)
        yield SystemCommand("Train a model", "Open the training screen (Ctrl+T)", self.action_train)
        yield SystemCommand("Resample suggestions", "Another ghost text, drawn at the temperature (Ctrl+R)",
                            screen.action_resample)
        yield SystemCommand("Temperature up", "Wilder continuations (Ctrl+Up)", lambda: screen.action_temperature(1))
        yield SystemCommand("Temperature down", "Safer continuations (Ctrl+Down)",
                            lambda: screen.action_temperature(-1))
        yield SystemCommand("Pick a suggestion", "Move to the suggestions pane (Alt+S)", screen.action_focus_suggestions)
        memory = "off" if self.settings.memory else "on"
        yield SystemCommand(f"Document memory {memory}", "Learn this document's own names and phrases while you write"
                            f" (now {'on' if self.settings.memory else 'off'}; remembered)", screen.action_toggle_memory)
        grey = "always" if self.settings.grey_floor else "only when sure"
        yield SystemCommand(f"Grey text {grey}", "Draw the grey text always, or only where the model is fairly sure of"
                            f" the next word (now {'only when sure' if self.settings.grey_floor else 'always'};"
                            " remembered)", screen.action_toggle_grey_floor)
        surprise = "off" if screen.inside_mode == "surprise" else "on"
        yield SystemCommand(f"Surprise view {surprise}", "Colour each character by how surprised the model was by it"
                            " (F5)", screen.action_surprise_view)
        yield SystemCommand("Cell view…", "Colour the text by one LSTM cell; the cell finder lists those that track"
                            " quotes, line position, sentence ends, words (F8)", screen.action_cell_view)
        if screen.inside_mode:
            yield SystemCommand("Plain view", "The text without the inside view's colours", screen.action_plain_view)
        adapting = "off" if self.settings.adapt else "on"
        yield SystemCommand(f"Adapt to the document {adapting}", "Fine-tune a copy of the model on this document's"
                            " style in the background, once it is long enough (now "
                            f"{'on' if self.settings.adapt else 'off'}; remembered)", screen.action_toggle_adapt)
        yield SystemCommand("Keys and help", "Every key, as mapped now (F1)", self.action_help)
