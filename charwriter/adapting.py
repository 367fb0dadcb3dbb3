"""A writing session's adaptation of its model to the document (`charwriter.session`): when it is due, the
low-priority process that learns the document's style (`charwriter.lm.adapt`), the swap to its weights when they
predict the document better, and the way back to the model's own weights. Torch-free at import, like the session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AdaptEvent:
    epoch: int  # `Adaptation.epoch` when the adaptation began: older ones are over


@dataclass(frozen=True)
class AdaptStarted(AdaptEvent):
    pass


@dataclass(frozen=True)
class AdaptProgress(AdaptEvent):
    step: int
    total: int


@dataclass(frozen=True)
class Adapted(AdaptEvent):
    """The adaptation ended: `kept`, the engine now runs its weights (the suggestions changed: ask again); else the
    model already fitted the document as well."""

    summary: dict
    kept: bool
    chars: int  # the document's length it read


@dataclass(frozen=True)
class AdaptFailed(AdaptEvent):
    error: str


@dataclass(frozen=True)
class Unadapted(AdaptEvent):
    """The engine runs the model's own weights again (adapting switched off, another document)."""


class Adaptation:
    """The adaptation of one session's engine; its work runs on its own threads and is told as events."""

    def __init__(self, session) -> None:
        self.session = session  # charwriter.session.WritingSession
        self._lock = threading.Lock()
        self.epoch = 0
        """Bumped when adapting stops (another model or document, switched off, closed): older work is dropped."""
        self.job = None  # the adapting process (`charwriter.lm.adapt.AdaptJob`) while it runs
        self.running = False
        self._adapted_chars: int | None = None
        self.base_weights = None
        """The model's weights as loaded, for going back to them when the engine runs adapted ones."""

    def maybe(self, chars: int | None = None) -> None:
        """Start when adapting is on and the document (`chars` long; None: as the session knows it) is long enough
        and has changed enough since the last time."""
        from charwriter.lm.adapt import due

        session = self.session
        with self._lock:
            if (not session.settings.adapt or self.running or session.engine is None or session.model_path is None
                    or session.closed or not session.may_adapt()):
                return
            chars = session._length if chars is None else chars
            if not due(chars, self._adapted_chars):
                return
            self._adapted_chars, self.running, epoch = chars, True, self.epoch
        session._emit(AdaptStarted(epoch))
        threading.Thread(target=self._run, args=(session.engine, session.model_path, epoch), daemon=True,
                         name="charwriter-adapt").start()

    def _run(self, engine, model_path: Path, epoch: int) -> None:
        """Run the adaptation's process; keep its weights when they predict the document better."""
        from charwriter.lm.adapt import AdaptJob

        session, job, event = self.session, None, None
        try:
            text = session.text
            job = self.job = AdaptJob(model_path, text)
            done = None
            for line in job.lines():
                if epoch != self.epoch:
                    return
                if "done" in line:
                    done = line["done"]
                elif "step" in line:
                    session._emit(AdaptProgress(epoch, line["step"], line["total"]))
            if epoch != self.epoch:
                return
            if done is None:
                event = AdaptFailed(epoch, job.error())
            else:
                if done.get("kept"):
                    from charwriter.lm.checkpoint import load_model

                    weights = load_model(job.out).model  # validated like any model file
                    if not session._swap_engine(engine, lambda old: old.with_weights(weights, done),
                                                lambda: epoch == self.epoch):
                        return
                event = Adapted(epoch, done, bool(done.get("kept")), len(text))
        except Exception as error:  # noqa: BLE001 - the model goes on as trained
            event = AdaptFailed(epoch, f"{type(error).__name__}: {error}")
        finally:
            if job is not None:
                job.close()
            if self.job is job:
                self.job = None
            if epoch == self.epoch:
                self.running = False
        if event is not None and epoch == self.epoch:  # told once the process is gone
            session._emit(event)
            self.maybe()  # the document may have changed enough meanwhile

    def stop(self, unadapt: bool = False, wait: bool = False) -> None:
        """Stop an adaptation under way and forget the last one; `unadapt`: the engine goes back to the model's own
        weights, off this thread (an answer under way may hold the engine), or before returning with `wait`."""
        with self._lock:
            self.epoch += 1
            epoch, job, engine = self.epoch, self.job, self.session.engine
            self.running, self._adapted_chars = False, None
            unadapt = unadapt and self.adapted
            if unadapt:
                self.running = True  # no adaptation starts until the engine has its own weights back
        if job is not None:
            job.stop()
        if unadapt:
            thread = threading.Thread(target=self._unadapt, args=(engine, epoch), daemon=True,
                                      name="charwriter-unadapt")
            thread.start()
            if wait:
                thread.join()

    def _unadapt(self, engine, epoch: int) -> None:
        weights = self.base_weights
        self.session._swap_engine(engine, lambda old: old.with_weights(weights), lambda: epoch == self.epoch)
        if epoch == self.epoch:
            self.running = False
            self.session._emit(Unadapted(epoch))
            self.maybe()

    @property
    def adapted(self) -> bool:
        """The engine runs adapted weights."""
        engine = self.session.engine
        return engine is not None and engine.loaded.training.get("adapted") is not None
