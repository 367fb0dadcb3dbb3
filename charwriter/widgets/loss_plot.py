"""Training and validation loss against steps, as a plotext line plot with axes and a legend; the learning rate on
the right-hand axis. Focus it to change the view: s smooths the training curve, l switches to a log scale."""

from __future__ import annotations

import math

from textual.binding import Binding
from textual_plotext import PlotextPlot

from charwriter.runs import downsample

COLORS = {"train": "cyan", "validation": "orange", "compare": "magenta", "learning rate": "gray"}
SMOOTHING = (0, 10, 50)  # steps of the training curve's moving average that `s` cycles through (0: raw)


def smoothed(points: list[tuple[int, float]], window: int) -> list[tuple[int, float]]:
    """A trailing moving average over `window` points (the first ones over what there is): a step's loss swings
    with its batch, and the trend is what a learner wants to read."""
    if window <= 1 or not points:
        return points
    out, total = [], 0.0
    for i, (step, value) in enumerate(points):
        total += value
        if i >= window:
            total -= points[i - window][1]
        out.append((step, total / min(i + 1, window)))
    return out


class LossPlot(PlotextPlot):
    """Call `show(train, val, lrs)` with (step, value) points; it redraws on the next refresh."""

    DEFAULT_CSS = """
    LossPlot {
        min-height: 10;
    }
    LossPlot:focus {
        background: $boost;
    }
    """

    BINDINGS = [
        Binding("s", "smooth", "Smooth", id="plot.smooth", tooltip="Smooth the training curve: off, 10, 50 steps"),
        Binding("l", "log_scale", "Log scale", id="plot.log", tooltip="Loss on a log scale, or a linear one"),
    ]

    can_focus = True

    lines: dict[str, int] = {}
    """The lines drawn last, by legend label, with their number of points (tests read it)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.smoothing = SMOOTHING[0]
        self.log_scale = False
        self._data: tuple = ([], [], [], "loss", None)

    def on_resize(self) -> None:
        # The curves are thinned to the plot's width: drawn again for the size it has now (a narrow terminal shows
        # the plot only once it is switched to, with the width it had while hidden).
        if self._data[0] or self._data[1]:
            self.show(*self._data)

    def action_smooth(self) -> None:
        self.smoothing = SMOOTHING[(SMOOTHING.index(self.smoothing) + 1) % len(SMOOTHING)]
        self.notify(f"Training curve: {'raw' if not self.smoothing else f'mean of {self.smoothing} steps'}")
        self.show(*self._data)

    def action_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self.show(*self._data)

    def show(self, train: list[tuple[int, float]], val: list[tuple[int, float]],
             lrs: list[tuple[int, float]] | None = None, title: str = "loss",
             compare: tuple[str, list[tuple[int, float]]] | None = None) -> None:
        """`compare`: another run's name and validation points, drawn over these."""
        self._data = (train, val, lrs or [], title, compare)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel("step")
        scale = "log " if self.log_scale else ""
        plt.ylabel(f"{scale}nats/char (÷{math.log(2):.3f} = bits/char)")
        if self.log_scale:
            plt.yscale("log")
        width = max(20, self.size.width)
        shown, legend = {}, []
        if train:
            points = downsample(smoothed(train, self.smoothing), 2 * width)  # braille gives two dots per cell
            label = "train" + (f" (mean of {self.smoothing})" if self.smoothing else "")
            plt.plot([s for s, _ in points], [v for _, v in points], marker="braille", color=COLORS["train"])
            shown["train"] = len(points)
            legend.append(("⣿", label, "train"))
        if val:
            points = downsample(val, width)
            plt.plot([s for s, _ in points], [v for _, v in points], marker="dot", color=COLORS["validation"])
            shown["validation"] = len(points)
            legend.append(("•", "validation", "validation"))
        if compare and compare[1]:
            points = downsample(compare[1], width)
            plt.plot([s for s, _ in points], [v for _, v in points], marker="dot", color=COLORS["compare"])
            shown[f"validation, {compare[0]}"] = len(points)
            legend.append(("•", f"validation, {compare[0]}", "compare"))
        if lrs and len({v for _, v in lrs}) > 1:  # a constant rate says nothing a line could add
            points = downsample(lrs, width)
            plt.plot([s for s, _ in points], [v for _, v in points], marker="·", yside="right",
                     color=COLORS["learning rate"])  # a smaller dot than validation's, told apart without colour
            plt.ylabel("learning rate", yside="right")
            shown["learning rate"] = len(points)
            legend.append(("·", "learning rate (right axis)", "learning rate"))
        self.lines = shown
        # The legend goes under the plot, not on the curves, where plotext would draw it.
        self.legend = "  ".join(f"{mark} {label}" for mark, label, _ in legend)
        if legend:
            plt.title(f"{title}   {self.legend}")
        if not train and not val:
            plt.plot([0], [0], marker=" ")
            plt.ylim(0, 4.5)  # where losses live: an untrained model over ~80 characters starts near ln 80 = 4.4
            plt.xlim(0, 100)
        self.refresh()
