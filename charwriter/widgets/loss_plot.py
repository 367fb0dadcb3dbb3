"""Training and validation loss against steps, as a plotext line plot with axes and a legend."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from charwriter.runs import downsample


class LossPlot(PlotextPlot):
    """Call `show(train, val)` with (step, loss) points; it redraws on the next refresh."""

    DEFAULT_CSS = """
    LossPlot {
        min-height: 10;
    }
    """

    lines: dict[str, int] = {}
    """The lines drawn last, by legend label, with their number of points (tests read it)."""

    def show(self, train: list[tuple[int, float]], val: list[tuple[int, float]], title: str = "loss") -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel("step")
        plt.ylabel("nats/char")
        width = max(20, self.size.width)
        if train:
            points = downsample(train, 2 * width)  # braille gives two dots per cell
            plt.plot([s for s, _ in points], [v for _, v in points], label="train", marker="braille")
        if val:
            points = downsample(val, width)
            plt.plot([s for s, _ in points], [v for _, v in points], label="validation", marker="dot")
        self.lines = {label: len(points) for label, points in (("train", train), ("validation", val)) if points}
        if not train and not val:
            plt.plot([0], [0], label="no steps yet", marker=" ")
            plt.ylim(0, 4.5)  # where losses live: an untrained model over ~80 characters starts near ln 80 = 4.4
            plt.xlim(0, 100)
        self.refresh()
