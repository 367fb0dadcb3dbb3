"""The form that sets up a training run: corpus, run name, starting model and the hyperparameters.

Every change is checked at once, in a thread worker, by the trainer's own code (`runs.check_corpus` and
`TrainConfig`), so the form shows exactly the message `charwriter train` would print: a missing, binary, non-UTF-8
or too short corpus, an impossible dropout. A valid form shows the corpus size, the vocabulary, batches per epoch
and an estimate of the time per epoch. The fields and their defaults are the trainer's (`TrainConfig`, the seed's), in the
form at once (`charwriter.lm.config` needs no torch); only the corpus check and the list of starting models load
the trainer, in a worker. The precision field offers bf16 once a worker has tried it on this machine
(`trainable_precisions`): a CPU that cannot train in bf16 gets auto and fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Checkbox, Input, Label, Select, Static

from charwriter.errors import UserError
from charwriter.lm.config import FORM_OPTIONS, TrainConfig, kind_of, option_of
from charwriter.runs import CorpusInfo, batch_advice, check_corpus, check_run_name, default_run_name, format_duration
from charwriter.widgets.path_suggester import PathSuggester

# The fields, from `TrainConfig` (charwriter.lm.config): a hyperparameter with a label is in the form.
LABELS = {name: option_of(name).label for name in FORM_OPTIONS}
INTEGERS = {name for name in FORM_OPTIONS if kind_of(name) is int}
SWITCHES = {name for name in FORM_OPTIONS if kind_of(name) is bool}
TEXTS = {name for name in FORM_OPTIONS if kind_of(name) is str and not option_of(name).choices}
OPTIONAL = {name for name in FORM_OPTIONS if option_of(name).optional}  # empty: the trainer's default (None)
CHOICES = {name: option_of(name).choices for name in FORM_OPTIONS if option_of(name).choices}
UNTRIED = {"precision": ("bf16",)}  # offered once a worker has tried them on this machine (`trainable_precisions`)
FROM_SCRATCH = "scratch"
CHECK_DELAY = 0.25  # seconds of quiet before the corpus is (re)read


@dataclass
class RunRequest:
    """What a valid form asks for: a new run of `options` on `corpus`."""

    corpus: str
    name: str
    options: dict
    init_from: str | None


class TrainForm(Vertical):
    """Watch `valid`; `request()` gives the run to start, or None while the form is invalid."""

    valid: reactive[bool] = reactive(False)
    """True when the last check of the current values passed."""

    def __init__(self, corpus: str | None = None, options: dict | None = None, name: str | None = None,
                 **kwargs) -> None:
        """`options`, `name`: what `charwriter train --tui CORPUS --hidden-size 64 …` gave, shown in place of the
        defaults (an option the form has no field for is said once the form is up)."""
        super().__init__(**kwargs)
        self.initial_corpus = corpus or ""
        self.initial_name = name or ""
        self.initial_options = dict(options or {})
        self.defaults: dict = TrainConfig().to_dict()
        self.info: CorpusInfo | None = None
        self._debounce: Timer | None = None
        self.offered = {name: tuple(c for c in choices if c not in UNTRIED.get(name, ()))
                        for name, choices in CHOICES.items()}
        """Per choice field, the values its Select offers now."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("Corpus", classes="field-label")
            yield Input(self.initial_corpus, placeholder="path/to/text.txt", id="corpus", suggester=PathSuggester(),
                        compact=True, tooltip="A UTF-8 text file to train on, or a folder of .txt and .md files (→ completes the path)")
        with Horizontal(classes="row"):
            yield Label("Run name", classes="field-label")
            yield Input(self.initial_name, placeholder="corpus name and time", id="name", compact=True,
                        tooltip="The run's folder name under the runs directory")
        with Horizontal(classes="row"):
            yield Label("Start from", classes="field-label")
            yield Select([("a new model", FROM_SCRATCH)], value=FROM_SCRATCH, allow_blank=False, id="init-from",
                         compact=True, tooltip="Fine-tune an existing model on this text (keeps its size and letters)")
        with Grid(id="options"):
            for name in FORM_OPTIONS:
                yield Label(LABELS[name], classes="field-label")
                value = self.initial_options.get(name, self.defaults[name])
                tooltip = option_of(name).tooltip or option_of(name).help
                if name in CHOICES:
                    yield Select([(c, c) for c in self.offered[name]], value=value, allow_blank=False, id=name,
                                 compact=True, tooltip=tooltip)
                elif name in SWITCHES:
                    yield Checkbox("add", value=bool(value), id=name, compact=True, tooltip=tooltip)
                else:
                    kind = "integer" if name in INTEGERS else "text" if name in TEXTS else "number"
                    yield Input(_shown(value), id=name, compact=True, type=kind,
                                placeholder="default" if name in OPTIONAL else "", tooltip=tooltip)
        yield Static("loading the trainer's defaults…", id="check")

    def on_mount(self) -> None:
        unshown = [name for name in self.initial_options if name not in FORM_OPTIONS and name != "init_from"]
        if unshown:
            self.notify("Not on the form, so not used by a run started here: "
                        + ", ".join("--" + name.replace("_", "-") for name in unshown), severity="warning", timeout=10)
        # After the first refresh: a fast worker could otherwise come back before every field is mounted.
        self.call_after_refresh(self.load_models)
        self.call_after_refresh(self.load_precisions)
        self.call_after_refresh(self.check)

    @work(thread=True, group="form-models")
    def load_models(self) -> None:
        from charwriter.lm.registry import list_models

        models = [(f"{e.name} ({e.source})", str(e.path)) for e in list_models() if e.meta is not None]
        given = self.initial_options.pop("init_from", None)  # --init-from NAME: the model's path, as listed
        if given:
            from charwriter.errors import UserError
            from charwriter.lm.registry import resolve_model

            try:
                given = str(resolve_model(given))
            except UserError as error:
                self.app.call_from_thread(self.notify, str(error), severity="warning", timeout=10)
                given = None
        self.app.call_from_thread(self._fill_models, models, given)

    def _fill_models(self, models: list[tuple[str, str]], given: str | None = None) -> None:
        select = self.query_one("#init-from", Select)
        chosen = given or select.value
        select.set_options([("a new model", FROM_SCRATCH), *models])
        if any(path == chosen for _, path in models):
            select.value = chosen

    @work(thread=True, group="form-precisions")
    def load_precisions(self) -> None:
        from charwriter.lm.train import trainable_precisions

        offered = trainable_precisions()  # bf16 is tried once per process: a step of a tiny model
        self.app.call_from_thread(self._fill_precisions, offered)

    def _fill_precisions(self, offered: tuple[str, ...]) -> None:
        if not self.is_attached:
            return
        self.offered["precision"] = offered
        select = self.query_one("#precision", Select)
        chosen = select.value
        select.set_options([(p, p) for p in offered])
        select.value = chosen if chosen in offered else self.defaults["precision"]

    def set_option(self, name: str, value, only_if_empty: bool = False) -> None:
        if name in CHOICES:
            # a past run's bf16 on a CPU that cannot train in it: the default instead
            self.query_one(f"#{name}", Select).value = value if value in self.offered[name] else self.defaults[name]
            return
        if name in SWITCHES:
            self.query_one(f"#{name}", Checkbox).value = bool(value)
            return
        field = self.query_one(f"#{name}", Input)
        if not (only_if_empty and field.value):
            field.value = _shown(value)

    def load(self, corpus: str | None, options: dict) -> None:
        """Fill the form from a past run (its corpus and hyperparameters); the name is left for a new run."""
        if corpus:
            self.query_one("#corpus", Input).value = corpus
        for name in FORM_OPTIONS:
            if name in options:
                self.set_option(name, options[name])
            else:  # a run from before the option existed used the default
                self.set_option(name, self.defaults[name])
        self.check()

    # --- checking -----------------------------------------------------------------------------------------------

    def values(self) -> tuple[str, str, dict, str | None]:
        """The raw form, or a `UserError` for a field that is not a number."""
        corpus = self.query_one("#corpus", Input).value.strip()
        name = self.query_one("#name", Input).value.strip()
        init = self.query_one("#init-from", Select).value
        options: dict = {key: self.query_one(f"#{key}", Select).value for key in CHOICES}
        options.update({key: self.query_one(f"#{key}", Checkbox).value for key in SWITCHES})
        for key in FORM_OPTIONS:
            if key in CHOICES or key in SWITCHES:
                continue
            text = self.query_one(f"#{key}", Input).value.strip()
            if key in OPTIONAL and not text:
                options[key] = None
                continue
            if key in TEXTS:
                options[key] = text
                continue
            try:
                options[key] = int(text) if key in INTEGERS else float(text)
            except ValueError:
                kind = "a whole number" if key in INTEGERS else "a number"
                raise UserError(f"{LABELS[key]}: give {kind}") from None
        return corpus, name, options, None if init == FROM_SCRATCH else str(init)

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event: Message) -> None:
        self.valid = False
        # A burst of changes (typing, loading a run) costs one check: each check reads the whole corpus.
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(CHECK_DELAY, self.check)

    def check(self) -> None:
        self.valid = False
        try:
            values = self.values()
        except UserError as error:
            self._show(str(error), ok=False)
            return
        if not values[0]:
            self._show("Give a text file to train on.", ok=False)
            return
        self._show("checking…", ok=None)
        self.run_check(values)

    @work(thread=True, exclusive=True, group="form-check")
    def run_check(self, values: tuple[str, str, dict, str | None]) -> None:
        corpus, name, options, init = values
        try:
            TrainConfig(**options)
            if name:
                check_run_name(name)
            info = check_corpus(corpus, options["batch_size"], options["seq_len"], options["val_fraction"],
                                options["hidden_size"], options["num_layers"], init, options["extend_vocab"])
        except UserError as error:
            self.app.call_from_thread(self._checked, values, None, str(error))
        except Exception as error:  # an unreadable starting model, say: show it, never crash the app
            self.app.call_from_thread(self._checked, values, None, f"{type(error).__name__}: {error}")
        else:
            self.app.call_from_thread(self._checked, values, info, None)

    def _checked(self, values, info: CorpusInfo | None, error: str | None) -> None:
        if not self.is_attached:
            return  # the screen closed while this check ran: nothing left to show it on
        try:
            if values != self.values():
                return  # the form changed while this check ran; a newer check is on its way
        except (UserError, NoMatches):  # NoMatches: the form is being taken down (the app is closing)
            return
        self.info = info
        if error:
            self._show(error, ok=False)
        else:
            assert info is not None
            options = values[2]
            epoch = info.estimated_epoch_seconds(options["batch_size"], options["seq_len"])
            self._show(
                f"{info.chars:,} characters, {info.vocab_size} distinct · {info.parameters:,} parameters\n"
                f"{info.batches_per_epoch} batches per epoch · estimated {format_duration(epoch)} per epoch "
                + (f"at the speed run {info.speed_from} reached here" if info.speed_from
                   else "on a CPU (rough; a GPU is faster)")
                + (f"\n{info.reading[0].upper()}{info.reading[1:]}" if info.reading else "")
                + (f"\nWarning: {advice}" if (advice := batch_advice(info.batches_per_epoch, options["batch_size"],
                                                                        options["seq_len"])) else "")
                + (f"\nAdds {len(info.unseen)} new characters to the model's vocabulary: {info.unseen[:30]}"
                   if info.extended else f"\n{len(info.unseen)} characters the model has never seen ({info.unseen[:20]})"
                   " are read without their accent, spelt out or dropped — tick Extend vocab to learn them"
                   if info.unseen else "")
                + (f"\nFine-tuning keeps the model's size: hidden {info.fine_tune_size[0]} × "
                   f"{info.fine_tune_size[1]} layers" if info.fine_tune_size else ""), ok=True)
        self.valid = error is None

    def _show(self, text: str, ok: bool | None) -> None:
        check = self.query_one("#check", Static)
        check.update(text)
        check.set_class(ok is False, "-error")
        check.set_class(ok is True, "-ok")

    def request(self) -> RunRequest | None:
        """The run to start (a default name filled in), or None if the form is not valid right now."""
        if not self.valid:
            return None
        corpus, name, options, init = self.values()
        return RunRequest(corpus, name or default_run_name(corpus), options, init)


def _shown(value) -> str:
    """A value as a field shows it: 0.001, not 0.0010000; empty for None."""
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
