"""The `charwriter` command line (also `python -m charwriter`): write, train, generate, eval, models.

User errors (a bad file, a bad model, a bad option) print one line to stderr and exit with code 2.
Heavy imports (torch, Textual) happen inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import sys
from pathlib import Path

from charwriter.errors import UserError
from charwriter.settings import PRECISIONS

class _Parser(argparse.ArgumentParser):
    """argparse with one-line refusals: what was wrong and where to look (exit code 2), no usage dump."""

    def error(self, message: str):
        self.exit(2, f"charwriter: {message} — see `{self.prog} --help`\n")


def _number(kind, low=None, high=None, low_open=False, high_open=False, what=""):
    """An argparse type: a finite number of `kind` within the bounds, else one line saying which are allowed."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}")
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (low is not None and (value < low or (low_open and value == low))) or \
                (high is not None and (value > high or (high_open and value == high))):
            raise argparse.ArgumentTypeError(f"{text} is out of range: {what}")
        return value

    return parse


POSITIVE_INT = _number(int, 1, what="give 1 or more")
COUNT = _number(int, 0, what="give 0 or more")
FINITE = _number(float)
FRACTION = _number(float, 0, 1, low_open=True, high_open=True, what="give a number between 0 and 1")
SEED = _number(int, 0, 2**63 - 1, what="give a whole number from 0 to 2**63 - 1")
THREADS_HELP = ("torch threads (default: measured at start — every core if that is clearly faster now, else one,"
                " so a busy machine does not slow the run down many times over)")
FORCE_HELP = "replace an existing file that charwriter did not write, without asking (never one of its inputs)"
PRECISION_HELP = ("the step's matmuls: auto (the fastest that agrees with fp32 on this CPU, measured once per model),"
                  " fp32, bf16, fp16 or int8")


def _train_options(parser: argparse.ArgumentParser) -> None:
    """`charwriter train`'s hyperparameter options, from `TrainConfig` (charwriter.lm.config): its help, its choices;
    the bounds are checked by `TrainConfig` itself, so the command line and the training form refuse alike."""
    from charwriter.lm.config import HYPERPARAMETERS, kind_of, option_of

    for name in HYPERPARAMETERS:
        option = option_of(name)
        kind = kind_of(name)
        if kind is bool:
            parser.add_argument("--" + name.replace("_", "-"), action="store_true", default=None, help=option.help)
            continue
        parse = SEED if name == "seed" else FRACTION if name == "val_fraction" else FINITE if kind is float else kind
        parser.add_argument("--" + name.replace("_", "-"), type=parse, default=None, help=option.help,
                            choices=option.choices)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="charwriter",
        description="A terminal writing assistant: a character-level LSTM continues your text as you type.",
        usage="charwriter [FILE] [--model M] | charwriter COMMAND ...",
        epilog="`charwriter FILE` is `charwriter write FILE` (a file named like a command: ./train).",
    )
    from charwriter import __version__

    parser.add_argument("--version", action="version", version=f"charwriter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in (_add_write, _add_train, _add_generate, _add_eval, _add_export, _add_models, _add_inspect, _add_lsp,
                _add_runs):  # the order `charwriter --help` lists them in
        add(sub)
    parser.commands = frozenset(sub.choices)  # what `main` takes for a command; anything else is a file to write
    return parser


def _add_write(sub) -> None:
    write = sub.add_parser("write", help="open the editor (the default command)")
    write.add_argument("file", nargs="?", help="a UTF-8 text file to open (created on save if missing)")
    write.add_argument("--model", help="model name (see `charwriter models`) or path")
    write.add_argument("--precision", choices=PRECISIONS, default=None, help=PRECISION_HELP + " (default: the setting,"
                       " auto)")


def _add_train(sub) -> None:
    train = sub.add_parser("train", help="train a model on a text file")
    train.add_argument("corpus", nargs="?", help="a UTF-8 text file, or a folder of them (see --glob)")
    _train_options(train)
    train.add_argument("--init-from", metavar="MODEL", help="fine-tune: start from this model (name or path)")
    train.add_argument("--name", help="run name (default: corpus name and time)")
    train.add_argument("--out", metavar="DIR", help="run directory (default: the user data dir's runs/NAME)")
    train.add_argument("--force", action="store_true", help=FORCE_HELP)
    train.add_argument("--resume", metavar="RUN", help="continue a stopped run (its name or directory)")
    train.add_argument("--restart-schedule", action="store_true",
                       help="with --resume: start the cosine schedule again (warm-up and decay) from where the run is,"
                            " over the epochs left, instead of stretching it over the new length")
    train.add_argument("--encoding", default="utf-8", help="the corpus's text encoding (default utf-8)")
    train.add_argument("--events", metavar="-", help="'-': stream events as JSON lines to stdout instead of a progress bar")
    train.add_argument("--tui", action="store_true", help="open the training screen with this corpus filled in")
    train.add_argument("--threads", type=POSITIVE_INT, default=None, help=THREADS_HELP)


def _add_generate(sub) -> None:
    gen = sub.add_parser("generate", help="continue a prime with the model, streamed to stdout")
    gen.add_argument("--model", help="model name or path (default: the bundled model)")
    gen.add_argument("--prime", default=None, help="text to start from (default 'Anna')")
    gen.add_argument("--prime-file", metavar="FILE", help="read the prime from a file ('-' for stdin)")
    gen.add_argument("--encoding", default="utf-8", help="the prime file's text encoding (default utf-8)")
    gen.add_argument("--length", type=COUNT, default=1000, help="characters to generate (default 1000)")
    gen.add_argument("--top-k", type=COUNT, default=5, help="sample from the k most likely (default 5, as the seed; 0: all)")
    gen.add_argument("--top-p", type=FINITE, default=None, help="nucleus sampling: the smallest set with this mass")
    gen.add_argument("--temperature", type=FINITE, default=1.0, help="below 1 is safer, above 1 wilder")
    gen.add_argument("--greedy", action="store_true", help="always the most likely character")
    gen.add_argument("--seed", type=SEED, default=None, help="random seed for repeatable output")
    gen.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP + " (default auto)")
    gen.add_argument("--threads", type=POSITIVE_INT, default=1,
                     help="torch threads (default 1: one character at a time is bound by memory speed)")


def _add_eval(sub) -> None:
    ev = sub.add_parser("eval", help="validation loss of a model on a text's held-out tail")
    ev.add_argument("corpus", help="a UTF-8 text file")
    ev.add_argument("--model", help="model name or path (default: the bundled model)")
    ev.add_argument("--val-fraction", type=FRACTION, default=None, help="held-out tail (default: the model's own when the text is its training corpus, else the seed's 0.1)")
    ev.add_argument("--batch-size", type=POSITIVE_INT, default=None, help="streams (default: as trained)")
    ev.add_argument("--seq-len", type=POSITIVE_INT, default=None, help="window (default: as trained)")
    ev.add_argument("--encoding", default="utf-8")
    ev.add_argument("--precision", choices=PRECISIONS, default="fp32",
                    help="score with the suggestions' step at this precision (default fp32: the training's number;"
                         " auto: what the editor picks here)")
    ev.add_argument("--threads", type=POSITIVE_INT, default=None, help=THREADS_HELP)
    ev.add_argument("--cut-boilerplate", action="store_true",
                    help="score only the book of a Project Gutenberg file, as `charwriter train` trains on it (default:"
                         " the whole file, the seed's split)")
    ev.add_argument("--memory", action="store_true",
                    help="also score the tail as one stream, with and without the document memory (holding the text"
                         " before each character, as when writing)")
    ev.add_argument("--adapt", action="store_true",
                    help="also score the tail with the model adapted to the text before it, as the app adapts to a"
                         " document (one pass over its last 400,000 characters; about a minute a core)")


def _add_export(sub) -> None:
    export = sub.add_parser("export", help="write a copy of a model, its weights stored at 16 bits (half the file)")
    export.add_argument("model", help="model name (see `charwriter models`) or path")
    export.add_argument("out", help="the new .safetensors file")
    export.add_argument("--storage", choices=("fp16", "bf16", "fp32"), default="fp16",
                        help="how the weights are stored (default fp16; the model always computes in fp32)")
    export.add_argument("--force", action="store_true", help=FORCE_HELP)


def _add_models(sub) -> None:
    sub.add_parser("models", help="list bundled, user and trained models")


def _add_inspect(sub) -> None:
    ins = sub.add_parser("inspect", help="see inside the model: how surprised it is by each character of a text, or"
                         " what one LSTM cell does")
    ins.add_argument("file", help="a UTF-8 text file")
    ins.add_argument("--model", help="model name or path (default: the bundled model)")
    what = ins.add_mutually_exclusive_group()
    what.add_argument("--cell", metavar="LAYER:INDEX", help="colour the text by this cell's activation (tanh of the"
                      " cell state; layers from 1, cells from 0), for example 2:37")
    what.add_argument("--find", action="store_true", help="list the cells that track quotes, the position in the line,"
                      " sentence ends and words")
    ins.add_argument("--html", metavar="OUT.html", help="also write the view as a self-contained HTML page")
    ins.add_argument("--force", action="store_true", help=FORCE_HELP)
    ins.add_argument("--json", action="store_true", help="print the per-character figures as JSON instead")
    ins.add_argument("--limit", type=POSITIVE_INT, default=20_000,
                     help="read at most this many characters from the start (default 20,000: a step per character)")
    ins.add_argument("--encoding", default="utf-8")
    ins.add_argument("--threads", type=POSITIVE_INT, default=1,
                     help="torch threads (default 1: one character at a time is bound by memory speed)")


def _add_lsp(sub) -> None:
    server = sub.add_parser("lsp", help="a language server on stdin/stdout: the suggestions in Neovim, Emacs, Helix,"
                            " VS Code (README: Your own editor)")
    server.add_argument("--model", help="model name or path (default: the settings' model, else the bundled one)")
    server.add_argument("--precision", choices=PRECISIONS, default=None, help=PRECISION_HELP + " (default: the"
                        " setting)")
    server.add_argument("--threads", type=POSITIVE_INT, default=None, help="torch threads (default: every core)")


def _add_runs(sub) -> None:
    runs = sub.add_parser("runs", help="list training runs, or delete or rename one")
    runs.add_argument("action", nargs="?", choices=("list", "delete", "rename"), default="list")
    runs.add_argument("run", nargs="?", help="the run's name (or folder)")
    runs.add_argument("new_name", nargs="?", help="rename: the new name")
    runs.add_argument("--yes", action="store_true", help="delete without asking")


def with_command(argv: list[str], commands) -> list[str]:
    """`charwriter story.txt` opens the file, as `vim story.txt` does (and `$EDITOR` use works): arguments that do
    not begin with a command, -h, --help or --version are `write`'s. A file named like a command is reached by its
    path (`charwriter ./train`)."""
    if argv and argv[0] not in commands and argv[0] not in ("-h", "--help", "--version"):
        return ["write", *argv]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(with_command(sys.argv[1:] if argv is None else list(argv), parser.commands))
    command = args.command or "write"
    try:
        if command == "write":
            return cmd_write(getattr(args, "file", None), getattr(args, "model", None),
                             precision=getattr(args, "precision", None))
        return {"train": cmd_train, "generate": cmd_generate, "eval": cmd_eval, "models": cmd_models,
                "export": cmd_export, "runs": cmd_runs, "inspect": cmd_inspect, "lsp": cmd_lsp}[command](args)
    except UserError as error:
        print(f"charwriter: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:  # Ctrl+C while loading or reading: no traceback
        print(file=sys.stderr)
        return 130


# --- write ------------------------------------------------------------------------------------------------------


def cmd_write(file: str | None, model: str | None, train_corpus: str | None = None, precision: str | None = None,
              **train_form) -> int:
    app = make_app(file, model, train_corpus, precision, **train_form)
    app.run()
    return app.return_code or 0


def make_app(file: str | None, model: str | None = None, train_corpus: str | None = None,
             precision: str | None = None, **train_form):
    """The app `charwriter write` runs (`benchmarks/startup.py` times this path)."""
    from charwriter.documents import read_document

    if file:
        read_document(file, missing_ok=True)  # a binary, huge or unreadable file: one line and exit 2, no UI
    from charwriter.app import CharwriterApp

    return CharwriterApp(file=file, model=model, train_corpus=train_corpus, precision=precision, **train_form)


def cmd_lsp(args) -> int:
    """`charwriter lsp`: the settings file, then the command line's model and precision; the client's settings
    (initializationOptions, didChangeConfiguration) apply on top of these, and none is written back."""
    from dataclasses import replace

    from charwriter.settings import Settings

    settings = Settings.load()
    if Settings.problem:
        print(f"charwriter: {Settings.problem}", file=sys.stderr)
    settings = replace(settings, model=args.model or settings.model, precision=args.precision or settings.precision)
    if args.threads:  # before torch loads: OpenMP then uses this many in the server's worker thread too
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from charwriter.lsp import serve

    return serve(settings, args.threads)


# --- train ------------------------------------------------------------------------------------------------------


def cmd_train(args) -> int:
    from charwriter.lm.config import HYPERPARAMETERS

    given = {k: getattr(args, k) for k in HYPERPARAMETERS if getattr(args, k) is not None}
    if args.tui:
        if args.resume:
            raise UserError("--tui opens the training screen; resume a run from that screen")
        return cmd_write(None, None, train_corpus=args.corpus or "", train_options=given, train_name=args.name)
    from charwriter import run_setup

    if args.resume:
        trainer = run_setup.resume_trainer(args.resume, args.corpus, given, args.encoding, args.restart_schedule)
    else:
        if not args.corpus:
            raise UserError("give a corpus to train on: charwriter train CORPUS (or --resume RUN)")
        if args.restart_schedule:
            raise UserError("--restart-schedule goes with --resume RUN (a new run starts its schedule anyway)")
        trainer = run_setup.new_trainer(args.corpus, given, init_from=args.init_from, name=args.name, out=args.out,
                                        encoding=args.encoding, force=args.force)
    return _run_trainer(trainer, args)


def _run_trainer(trainer, args) -> int:
    """Run `trainer` in this process: its events as JSON lines (`--events -`) or a progress view, Ctrl+C or SIGTERM
    its own stop (a checkpoint), and under torchrun only rank 0 reporting."""
    from charwriter.lm.run_folder import RunFolder
    from charwriter.views.progress import TrainProgress

    stream = args.events == "-"
    if args.events not in (None, "-"):
        raise UserError(f"--events takes '-' (stdout); the run directory always has {RunFolder.EVENTS}")
    if trainer.device.type == "cpu":
        from charwriter.lm.threads import choose_threads

        c = trainer.config
        _, trainer.threads_reason = choose_threads(args.threads, c.batch_size // trainer.world, c.hidden_size,
                                                   trainer.world)
    quiet = trainer.rank > 0  # under torchrun only rank 0 reports
    view = None
    if stream and not quiet:
        trainer.add_callback(_write_event)
    elif not quiet:
        view = TrainProgress(trainer)
        trainer.add_callback(view.on_event)

    def stop(signum, frame):
        trainer.request_stop("interrupted")
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl+C stops at once

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return _train(trainer, view, quiet)


def _write_event(event) -> None:
    sys.stdout.write(event.to_json() + "\n")
    sys.stdout.flush()


def _train(trainer, view, quiet: bool) -> int:
    """Train to the end (or a stop), then the last lines; under torchrun every process leaves together."""
    import torch.distributed as dist

    from charwriter.views.progress import print_ending

    finished = False
    try:
        if view:
            with view:
                done = trainer.run()
        else:
            done = trainer.run()
        if dist.is_initialized():
            dist.barrier()  # rank 0 may still be writing the last checkpoint: leave together, or gloo aborts
        finished = True
    except UserError as error:
        print(f"charwriter: {error}", file=sys.stderr)
        return error.exit_code
    finally:
        if dist.is_initialized() and not finished:
            dist.destroy_process_group()
    if not quiet:
        print_ending(done, trainer.run_dir)
    if dist.is_initialized():
        # Every process has passed the barrier and said its last word. Tearing down gloo's threads at interpreter
        # exit sometimes aborts a process ("terminate called without an active exception", exit -6), which makes
        # torchrun report a finished run as failed: leave at once instead.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


# --- generate / eval / models -------------------------------------------------------------------------------------


def _load(spec: str | None):
    from charwriter.lm.checkpoint import load_model
    from charwriter.lm.registry import resolve_model

    return load_model(resolve_model(spec))


def cmd_generate(args) -> int:
    from charwriter.lm.data import read_text
    from charwriter.lm.sample import generate, split_mapped

    if args.length < 0:
        raise UserError("--length must be 0 or more")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise UserError("--top-p must be in (0, 1]")
    if args.temperature <= 0 and not args.greedy:
        raise UserError("--temperature must be positive (or use --greedy)")
    if args.prime_file and args.prime is not None:
        raise UserError("give --prime or --prime-file, not both")
    if args.prime_file:  # a file or standard input ('-'): one reader, one rule
        prime = read_text(args.prime_file, encoding=args.encoding, what="prime file")
    else:
        prime = "Anna" if args.prime is None else args.prime
    loaded = _load(args.model)
    _, skipped = split_mapped(prime, loaded.vocab)
    if skipped:
        shown = ", ".join(repr(c) for c in skipped[:10]) + (" …" if len(skipped) > 10 else "")
        print(f"charwriter: warning: skipped characters {loaded.name} has no look-alike for: {shown}", file=sys.stderr)
    out = sys.stdout
    out.write(prime)
    out.flush()
    import torch

    from charwriter.lm.precision import resolve

    torch.set_num_threads(args.threads)
    chosen = resolve(args.precision, loaded.model, loaded.path, batches=(1,))
    chars = generate(loaded.model, loaded.vocab, prime, args.length, top_k=args.top_k or None, top_p=args.top_p,
                     temperature=args.temperature, greedy=args.greedy, seed=args.seed, precision=chosen.precision)
    try:
        for i, ch in enumerate(chars):
            out.write(ch)
            if ch == "\n" or i % 8 == 7:
                out.flush()
    except KeyboardInterrupt:  # Ctrl+C: what was generated stays printed, the shell sees 128 + SIGINT
        out.write("\n")
        out.flush()
        return 130
    out.write("\n")
    out.flush()
    return 0


def _own_corpus(loaded, text: str) -> set[str]:
    """The training corpus's hash when `text` is it (whole, or its book without a Project Gutenberg licence, as
    `train` reads it by default); else nothing: another text is scored on the seed's split."""
    from charwriter.lm.data import Corpus, cut_boilerplate

    own = loaded.training.get("corpus_sha256")
    if not own:
        return set()
    cut = cut_boilerplate(text)[0]
    return {own} & {Corpus.from_text(t, vocab=loaded.vocab).sha256 for t in {text, cut}}


def cmd_eval(args) -> int:
    from charwriter.lm.threads import choose_threads

    loaded = _load(args.model)
    corpus, streams = _held_out(args, loaded)
    threads, _ = choose_threads(args.threads, streams.batch_size, loaded.config.hidden_size)
    score, how = _scorer(args.precision, loaded, streams)
    loss = score(loaded.model)
    print(f"{loaded.name} on the last {corpus.val_fraction:g} of {Path(args.corpus).name} "
          f"({len(corpus.val_data):,} chars, {streams.batch_size} streams × {streams.seq_len}{how}, {threads} thread"
          f"{'s' if threads > 1 else ''}): "
          f"{loss:.4f} nats/char, {loss / math.log(2):.4f} bits/char")
    if args.memory:
        _eval_with_memory(loaded, corpus, args.threads)
    if args.adapt:
        from charwriter.lm.adapt import adapt

        result = adapt(loaded, corpus.text[: corpus.split])
        adapted = score(result.model) if result.kept else loss
        print(f"adapted to the last {result.chars:,} chars before it ({result.steps} steps, {result.seconds:.0f} s): "
              f"{adapted:.4f} nats/char ({adapted - loss:+.4f})" + (
                  "" if result.kept else "; not kept (its own held-out end was predicted no better): the model as "
                  "trained, as the app would use it"))
    return 0


def _held_out(args, loaded):
    """The text to score (read as the model reads it) and its held-out tail's streams: the model's own split when
    the text is its training corpus, else the seed's (or `--val-fraction`); -> (corpus, streams)."""
    from charwriter.lm.data import Corpus, cut_boilerplate, read_text
    from charwriter.lm.sample import split_mapped

    hyper = loaded.training.get("hyperparameters") or {}
    val_fraction = args.val_fraction or 0.1
    batch_size = args.batch_size or hyper.get("batch_size") or 128
    seq_len = args.seq_len or hyper.get("seq_len") or 100
    text = read_text(args.corpus, encoding=args.encoding)
    if args.cut_boilerplate:
        text, cut = cut_boilerplate(text)
        if cut:
            print(f"charwriter: {cut}", file=sys.stderr)
    _, skipped = split_mapped(text, loaded.vocab)  # curly quotes and the like are read as the model's look-alikes
    if skipped:
        print(f"charwriter: warning: {sum(text.count(c) for c in skipped):,} characters not in the model's vocabulary"
              f" were skipped ({', '.join(repr(c) for c in skipped[:10])})", file=sys.stderr)
    corpus = Corpus.from_text(text, Path(args.corpus).name, val_fraction, vocab=loaded.vocab)
    if not args.val_fraction and corpus.sha256 in _own_corpus(loaded, text):
        corpus.val_fraction = loaded.training.get("val_fraction") or 0.1  # its own held-out tail
    val = corpus.val_data
    if len(val) < seq_len + 1:
        raise UserError(f"{args.corpus}: the held-out tail has {len(val)} characters, fewer than one window of "
                        f"{seq_len + 1} — use a larger --val-fraction or a smaller --seq-len")
    return corpus, corpus.val_streams(batch_size, seq_len)


def _scorer(precision: str, loaded, streams):
    """How the tail is scored: the training's batched reading (fp32), or the suggestions' step at `precision`;
    -> (score(model), what to say about it)."""
    from charwriter.lm.train import evaluate, evaluate_stepped

    if precision == "fp32":
        return (lambda model: evaluate(model, streams, "cpu")), ""
    from charwriter.lm.fast import FastRNN
    from charwriter.lm.precision import resolve

    chosen = resolve(precision, loaded.model, loaded.path)
    return (lambda model: evaluate_stepped(FastRNN(model, chosen.precision), streams),
            f", read by the suggestions' step at {chosen.precision}")


def _eval_with_memory(loaded, corpus, threads: int | None) -> None:
    """The tail read as one stream after the text before it, alone and with the document memory."""
    import torch

    from charwriter.lm.memory import DocumentMemory, score_stream

    torch.set_num_threads(threads or 1)  # one stream, one character at a time
    before, tail = corpus.data[: corpus.split].tolist(), corpus.val_data.tolist()
    memory = DocumentMemory(len(loaded.vocab), lambda t: [loaded.vocab.index(c) for c in t])
    memory.install("", memory.build_codes(before))
    static, mixed, n = score_stream(loaded.model.eval(), before, tail, memory)
    print(f"read as one stream after the text before it: {static / n:.4f} nats/char alone, "
          f"{mixed / n:.4f} with the document memory ({(mixed - static) / n:+.4f})")


def cmd_export(args) -> int:
    import torch

    from charwriter.lm.checkpoint import STORAGE, save_model
    from charwriter.lm.modelfile import is_model_file
    from charwriter.outputs import check_output, shown

    loaded = _load(args.model)
    out = Path(args.out).expanduser()
    if out.suffix != ".safetensors":
        raise UserError(f"{shown(out)}: give a file name ending in .safetensors")
    check_output(out, [(loaded.path, "the model itself")], "charwriter model", is_model_file, args.force)
    for name, weight in loaded.model.state_dict().items():
        if not torch.isfinite(weight.to(STORAGE[args.storage])).all():
            raise UserError(f"{loaded.name}: {name} does not fit in {args.storage} — use --storage bf16 or fp32")
    training = dict(loaded.training, stored_from=str(loaded.path) if loaded.path else None)
    save_model(out, loaded.model, loaded.vocab, training, storage=args.storage)
    before = loaded.path.stat().st_size if loaded.path else None
    size = out.stat().st_size
    print(f"wrote {out}: {args.storage} weights, {size / 1e6:.1f} MB" + (f" (was {before / 1e6:.1f} MB)" if before
          else "") + f" — check its loss with: charwriter eval CORPUS --model {shlex.quote(str(out))}")
    return 0


def cmd_inspect(args) -> int:
    import json

    import torch

    from charwriter.lm.data import read_text
    from charwriter.lm.inspect import parse_cell, read_text_through
    from charwriter.views.inspect import PAGE_MARK, figures, show

    if args.json and args.html:
        raise UserError("--json prints the figures and --html writes the coloured page: give one of them")
    torch.set_num_threads(args.threads)
    loaded = _load(args.model)
    out = Path(args.html).expanduser() if args.html else None
    if out is not None:  # before the work: a page that would be refused is better refused at once
        from charwriter.outputs import check_output, starts_with

        check_output(out, [(Path(args.file).expanduser(), "the text being inspected"), (loaded.path, "the model")],
                     "page written by charwriter inspect", starts_with(PAGE_MARK.encode()), args.force)
    text = read_text(args.file, encoding=args.encoding, what="text")[: args.limit]
    cell = None
    if args.cell:
        try:
            cell = parse_cell(args.cell, loaded.config.num_layers, loaded.config.hidden_size)
        except ValueError as error:
            raise UserError(f"--cell {error}") from None
    reading = read_text_through(loaded.model, loaded.vocab, text)
    if not reading.text:
        raise UserError(f"{args.file}: none of its characters are in the model's vocabulary — pick another model")
    if args.json:
        json.dump(figures(reading, loaded.name, cell), sys.stdout)
        print()
        return 0
    page = show(reading, text, loaded.vocab, loaded.name, cell, find=args.find, page=out is not None)
    if out is not None:
        from charwriter.outputs import shown, write_output

        write_output(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
        print(f"wrote {shown(out)}", file=sys.stderr)
    return 0


def cmd_runs(args) -> int:
    from charwriter.runs import delete_run, find_run, format_duration, list_runs, rename_run, run_size
    from charwriter.views.listing import print_listing

    if args.action == "list":
        if args.run:
            raise UserError("`charwriter runs` lists every run; to act on one: charwriter runs delete|rename RUN")
        histories = list_runs()
        shown, plain = [], []
        for h in histories:
            best = f"{h.best_val_loss:.4f}" if h.best_val_loss is not None else "-"
            seconds = h.done.train_seconds if h.done else h.last_step.elapsed_s if h.last_step else None
            size = run_size(h.run_dir)
            steps, time = f"{h.step}/{h.total_steps}", format_duration(seconds)
            shown.append([h.name, h.status, steps, best, time, f"{size / 1e6:.1f} MB"])
            plain.append([h.name, h.status, steps, best, time, str(size)])
        print_listing("charwriter runs", ["name", "status", "steps", "best val", "time", "size"], shown,
                      ["name", "status", "steps", "best_val", "train_time", "size_bytes"], plain,
                      [h.run_dir for h in histories], right=("steps", "best val", "size"),
                      empty="no runs yet: train one with `charwriter train CORPUS`")
        return 0
    if not args.run:
        raise UserError(f"give the run to {args.action}: charwriter runs {args.action} RUN"
                        + (" NEW_NAME" if args.action == "rename" else ""))
    run_dir = find_run(args.run)
    if args.action == "rename":
        if not args.new_name:
            raise UserError("give the new name: charwriter runs rename RUN NEW_NAME")
        target = rename_run(run_dir, args.new_name)
        print(f"renamed {run_dir.name} to {target.name}: {target}")
        return 0
    if args.new_name:
        raise UserError("delete takes one run: charwriter runs delete RUN [--yes]")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"deleting {run_dir} needs a yes: run it in a terminal, or pass --yes")
        answer = input(f"Delete run {run_dir.name} ({run_size(run_dir) / 1e6:.1f} MB: its events, checkpoint and"
                       f" models)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept", file=sys.stderr)
            return 1
    delete_run(run_dir)
    print(f"deleted {run_dir}")
    return 0


def cmd_models(args) -> int:
    from charwriter.lm.registry import list_models
    from charwriter.views.listing import print_listing

    entries = list_models()
    shown, plain = [], []
    for e in entries:
        size = e.path.stat().st_size
        if e.meta is None:
            shown.append([e.name, e.source, f"{size / 1e6:.1f} MB", "-", "[red]unreadable[/red]", "-"])
            plain.append([e.name, e.source, str(size), "-", "unreadable", "-"])
            continue
        val = f"{e.val_loss:.4f}" if e.val_loss is not None else "-"
        shown.append([e.name, e.source, f"{size / 1e6:.1f} MB", val, e.field("corpus"), e.field("date")[:10]])
        plain.append([e.name, e.source, str(size), val, e.field("corpus"), e.field("date")[:10]])
    print_listing("charwriter models", ["name", "source", "size", "val loss", "corpus", "date"], shown,
                  ["name", "source", "size_bytes", "val_loss", "corpus", "date"], plain, [e.path for e in entries],
                  right=("size", "val loss"), empty="no models yet — train one with: charwriter train CORPUS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
