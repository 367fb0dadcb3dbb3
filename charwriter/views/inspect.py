"""`charwriter inspect`'s output: the text coloured by the model's surprise or by one cell, what it expects next, the
cells the finder found; the same as a self-contained HTML page, or the per-character figures as JSON."""

from __future__ import annotations

import math

from charwriter.lm.inspect import SURPRISE_STEPS, Reading, find_cells, surprise_level

SURPRISE_STYLES = ("", "black on green", "black on yellow", "bold white on red")  # read in 16 colours too
PAGE_MARK = '<meta name="generator" content="charwriter inspect">'  # how --html knows its own pages
CELL_STYLES = ((-0.6, "bold white on blue"), (-0.2, "black on cyan"), (0.2, ""), (0.6, "black on magenta"),
               (1.01, "bold white on red"))


def figures(reading: Reading, model_name: str, cell: tuple[int, int] | None) -> dict:
    """The per-character figures (`--json`): log-probability, bits, the top guesses, and the cell's value."""
    bits = reading.bits.tolist()
    rows = [{"char": ch, "logp": round(float(lp), 5), "bits": round(b, 4),
             "top": [[g, round(p, 4)] for g, p in reading.top[i]]}
            for i, (ch, lp, b) in enumerate(zip(reading.text, reading.logp.tolist(), bits))]
    if cell is not None:
        for row, value in zip(rows, reading.cells[:, cell[0], cell[1]].tolist()):
            row["cell"] = round(value, 4)
    return {"model": model_name, "loss": round(reading.loss, 5), "chars": rows}


def show(reading: Reading, text: str, vocab: list[str], model_name: str, cell: tuple[int, int] | None,
         find: bool, page: bool) -> str | None:
    """Print the coloured text (the writer's own characters), the loss, the next guesses and, with `find`, the
    cells that track the text; -> the same as an HTML page when `page`, else None."""
    from rich.console import Console
    from rich.text import Text

    console = Console(record=page, highlight=False)
    shown = Text()
    if cell is not None:
        values = reading.cells[:, cell[0], cell[1]].tolist()
        for ch, v in own_characters(text, vocab, values):
            shown.append(ch, style=None if v is None else next(style for limit, style in CELL_STYLES if v < limit))
        title = (f"cell {cell[0] + 1}:{cell[1]} of {model_name} (tanh of its cell state): blue below −0.6, cyan"
                 " below −0.2, plain near 0, magenta above 0.2, red above 0.6")
    else:
        for ch, b in own_characters(text, vocab, reading.bits.tolist()):
            shown.append(ch, style=None if b is None else SURPRISE_STYLES[surprise_level(b)])
        low, mid, high = SURPRISE_STEPS
        title = (f"how surprised {model_name} was by each character: plain under {low:g} bit, green {low:g}–{mid:g},"
                 f" yellow {mid:g}–{high:g}, red over {high:g} bits")
    console.print(title, style="bold")
    console.print(shown)
    console.print(f"{len(reading.text):,} characters: {reading.loss:.4f} nats/char ({reading.loss / math.log(2):.4f}"
                  " bits/char), each predicted from everything before it")
    guesses = "  ".join(f"{g!r} {p:.0%}" for g, p in reading.after)
    console.print(f"next, it expects: {guesses}")
    if find:
        console.print("cells that track the text (r: correlation of tanh(cell) with the feature; try --cell):",
                      style="bold")
        for found in find_cells(reading):
            console.print(f"  {found.feature:22s} cell {found.layer + 1}:{found.cell:<5d} r = {found.r:+.2f}")
    if not page:
        return None
    return console.export_html(inline_styles=True).replace("<head>", f"<head>\n{PAGE_MARK}", 1)


def own_characters(text: str, vocab: list[str], values: list):
    """The writer's own characters, each with the value of the first character the model read for it: a curly
    quote or a dash is shown as typed, not as the model's stand-in; one the model skipped gets None."""
    from charwriter.lm.sample import translate

    index = {ch: i for i, ch in enumerate(vocab)}
    at, read_as = 0, {}
    for ch in text:
        count = read_as.setdefault(ch, len(translate(ch, index)))
        yield ch, values[at] if count else None
        at += count
