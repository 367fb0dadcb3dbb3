"""Setting up a training run from `charwriter train`'s options: a new run, a resumed one, or one started again.

Each returns a ready `Trainer` (imports torch), or refuses in one line (`UserError`) before anything is written:
the corpus, the run's folder and the model it fine-tunes are checked first. Notes a writer should see (a run
started again, characters a fine-tune cannot read, a batch too big for the corpus) go to stderr.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from charwriter import paths
from charwriter.errors import UserError
from charwriter.lm import events
from charwriter.lm.checkpoint import LoadedModel, load_checkpoint, load_model
from charwriter.lm.data import Corpus
from charwriter.lm.config import RESUMABLE
from charwriter.lm.modelfile import is_model_file
from charwriter.lm.registry import resolve_model
from charwriter.lm.run_folder import RunFolder
from charwriter.lm.train import TrainConfig, Trainer
from charwriter.runs import batch_advice, default_run_name, is_plain_name, locate_run


def _note(message: str) -> None:
    print(f"charwriter: {message}", file=sys.stderr)


def resume_trainer(run: str, corpus_path: str | None, given: dict, encoding: str,
                   restart_schedule: bool = False) -> Trainer:
    """Continue the run named (or at) `run` from its checkpoint; `given` may change only what a resume may
    (`RESUMABLE`). A run that stopped before its first checkpoint starts again from step 0 with its settings."""
    run_dir = locate_run(run)
    checkpoint_path = RunFolder(run_dir).checkpoint
    if not checkpoint_path.exists() and not checkpoint_path.is_symlink():  # a folder there: load says so
        return _start_again(run_dir, corpus_path, given, encoding)
    checkpoint = load_checkpoint(checkpoint_path)
    saved = checkpoint.meta.get("training") or {}
    hyper = {"keep_boilerplate": True, **(saved.get("hyperparameters") or {})}  # older runs: the whole file
    fixed = sorted(set(given) - RESUMABLE)
    if fixed:
        raise UserError(f"cannot change {', '.join('--' + f.replace('_', '-') for f in fixed)} when resuming"
                        " — start a new run instead")
    hyper.update(given)
    if restart_schedule:
        hyper["schedule_start"] = checkpoint.progress["step"]
    for limit in ("max_minutes", "max_steps"):
        if limit not in given:
            hyper[limit] = None
    config = TrainConfig.from_dict(hyper)
    corpus_path = corpus_path or saved.get("corpus_path")
    if not corpus_path:
        raise UserError("the checkpoint does not say where its corpus is — pass it: charwriter train CORPUS --resume RUN")
    corpus = Corpus.from_file(corpus_path, config.val_fraction, encoding, vocab=checkpoint.vocab,
                              keep_boilerplate=config.keep_boilerplate, glob=config.glob)
    if corpus.sha256 != saved.get("corpus_sha256"):
        raise UserError(f"{corpus_path} is not the text this run was trained on (its sha256 differs)"
                        " — pass the original corpus")
    return Trainer(corpus, config, run_dir, resume=True, corpus_path=str(Path(corpus_path).resolve()))


def _start_again(run_dir: Path, corpus_path: str | None, given: dict, encoding: str) -> Trainer:
    """A run stopped before its first checkpoint has nothing to resume from: it starts again, as it was set up
    (its first `config` event says how), its earlier events set aside."""
    started = _first_config(run_dir)
    if started is None:
        raise UserError(f"no resumable run at {run_dir} (no {RunFolder.CHECKPOINT}) — check the run name")
    hyper = {"keep_boilerplate": True, **started.config, **given}  # older runs trained on the whole file
    config = TrainConfig.from_dict(hyper)
    corpus_path = corpus_path or started.corpus_path
    if not corpus_path:
        raise UserError(f"the run at {run_dir} does not say where its corpus is — pass it: "
                        "charwriter train CORPUS --resume RUN")
    init = load_model(resolve_model(config.init_from)) if config.init_from else None
    corpus = Corpus.from_file(corpus_path, config.val_fraction, encoding, vocab=init.vocab if init else None,
                              keep_boilerplate=config.keep_boilerplate, glob=config.glob)
    kept = RunFolder(run_dir).set_aside_events()
    _note(f"{run_dir} stopped before its first checkpoint: starting it again from step 0 with the"
          f" same settings (its earlier events are kept as {kept.name})")
    return Trainer(corpus, config, run_dir, init_model=init, corpus_path=str(Path(corpus_path).resolve()))


def _first_config(run_dir: Path):
    """The `config` event a run's events start with (None if there is none to read)."""
    try:
        return next(iter(events.of_kind(events.read(RunFolder(run_dir).events), events.ConfigEvent)), None)
    except OSError:
        return None


def new_trainer(corpus_path: str, given: dict, *, init_from: str | None = None, name: str | None = None,
                out: str | None = None, encoding: str = "utf-8", force: bool = False) -> Trainer:
    """A new run on `corpus_path` with the hyperparameters `given` (the rest: `TrainConfig`'s defaults), fine-tuning
    `init_from` if given, in `out` or the runs folder's `name` (default: the corpus's name and the time)."""
    init = None
    if init_from:
        init = load_model(resolve_model(init_from))
        for key in ("hidden_size", "num_layers", "cell"):
            given[key] = getattr(init.config, key)
        for key in ("dropout", "weight_dropout"):  # training-only: the model's own unless given
            given.setdefault(key, getattr(init.config, key))
    config = TrainConfig(**given)
    added = []
    if init is not None:
        init, added = _fine_tune_vocab(init, corpus_path, encoding, config)
    corpus = Corpus.from_file(corpus_path, config.val_fraction, encoding, vocab=init.vocab if init else None,
                              keep_boilerplate=config.keep_boilerplate, glob=config.glob)
    if added:
        note = f"added {len(added)} characters to the model's vocabulary: {''.join(added)[:40]}"
        corpus.reading = f"{corpus.reading}; {note}" if corpus.reading else note
    corpus.check_size(config.batch_size, config.seq_len, where=corpus_path)
    advice = batch_advice(len(corpus.train_streams(config.batch_size, config.seq_len)), config.batch_size,
                          config.seq_len)
    if advice:
        _note(f"warning: {corpus_path}: {advice} (--batch-size)")
    run_dir = _new_run_dir(name or default_run_name(corpus_path), out, Path(corpus_path).expanduser(), init, force)
    return Trainer(corpus, config, run_dir, init_model=init, corpus_path=str(Path(corpus_path).resolve()))


def _new_run_dir(name: str, out: str | None, corpus: Path, init: LoadedModel | None, force: bool) -> Path:
    """A new run's folder, `out` or the runs folder's `name`: refused if a run with a checkpoint is there (it is
    resumed instead); a run there that stopped before its first checkpoint starts again."""
    if out:
        run_dir = Path(out).expanduser()
    else:
        if not is_plain_name(name):
            raise UserError(f"--name {name!r}: use a plain name without '/' (or --out DIR)")
        run_dir = paths.runs_dir() / name
    folder = RunFolder(run_dir)
    if folder.checkpoint.exists():
        raise UserError(f"a run already exists at {run_dir} — resume it with --resume {shlex.quote(str(run_dir))}"
                        " or pick another --name")
    _check_run_dir(run_dir, corpus, init, force)
    if folder.events.exists():  # a run that stopped before its first checkpoint: start it again
        kept = folder.set_aside_events()
        _note(f"{run_dir} stopped before its first checkpoint: starting it again (its earlier events"
              f" are kept as {kept.name})")
    return run_dir


def _check_run_dir(run_dir: Path, corpus: Path, init: LoadedModel | None, force: bool) -> None:
    """A new run's folder: a folder that can be made, not the corpus, with no model in it that the run would write
    over (the one it fine-tunes, or a file charwriter did not write)."""
    from charwriter.outputs import check_output, folder_problem, same_file, shown

    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {shown(run_dir)} is a file — give a folder for the run")
    if same_file(run_dir, corpus):
        raise UserError(f"--out {shown(run_dir)} is the corpus folder — give another folder for the run")
    inputs = [(corpus, "the corpus"), (init.path if init else None, "the model it fine-tunes (--init-from)")]
    for model in RunFolder(run_dir).models:
        check_output(model, inputs, "charwriter model", is_model_file, force)
    problem = folder_problem(run_dir)
    if problem:
        raise UserError(f"cannot write the run to {shown(run_dir)}: {problem} — give --out a folder you can write to")


def _fine_tune_vocab(init: LoadedModel, corpus_path: str, encoding: str, config: TrainConfig):
    """The starting model for a fine-tune, and the characters added to its vocabulary: with `--extend-vocab` the
    text's characters that the model cannot read (nor read as a look-alike) get new rows; without, it says which
    will be dropped."""
    from charwriter.lm.model import extend_vocab
    from charwriter.lm.sample import unseen_characters

    text = Corpus.from_file(corpus_path, config.val_fraction, encoding, keep_boilerplate=config.keep_boilerplate,
                            glob=config.glob).text
    unseen = unseen_characters(text, init.vocab)
    if not unseen:
        return init, []
    shown = " ".join(repr(c)[1:-1] for c in unseen[:12]) + (" …" if len(unseen) > 12 else "")
    if not config.extend_vocab:
        _note(f"warning: {len(unseen)} characters the model has never seen will be read without their"
              f" accent, spelt out (æ as ae) or dropped ({shown}) — --extend-vocab adds them to its vocabulary")
        return init, []
    model = extend_vocab(init.model, init.vocab, unseen)
    vocab = init.vocab + unseen
    return LoadedModel(model, vocab, model.config, dict(init.training, vocab_added="".join(unseen)), init.path), unseen
