"""The status line under the editor: document, model, temperature, context length and the last latency."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class StatusLine(Widget):
    document: reactive[str] = reactive("untitled")
    """File name of the document (or "untitled")."""
    dirty: reactive[bool] = reactive(False)
    """True while there are changes not saved to the file."""
    model: reactive[str] = reactive("no model")
    """Name of the model that makes the suggestions, or what is happening to it ("loading …")."""
    precision: reactive[str] = reactive("")
    """The precision the model's step runs at (int8, bf16, …), shown after its name unless fp32."""
    temperature: reactive[float] = reactive(1.0)
    """Sampling temperature of the suggestions."""
    context: reactive[int] = reactive(0)
    """Characters before the cursor that the last suggestion was conditioned on."""
    latency_ms: reactive[float | None] = reactive(None)
    """How long the last suggestion run took, in milliseconds."""

    def render(self) -> Text:
        latency = "-" if self.latency_ms is None else f"{self.latency_ms:.0f} ms"
        return Text.assemble(
            (self.document + (" ●" if self.dirty else ""), "bold"),
            "  │  model ", (self.model, "bold"),
            (f" {self.precision}" if self.precision not in ("", "fp32") else "", "dim"),
            f"  │  temp {self.temperature:.1f}  │  context {self.context:,}  │  latency {latency}",
        )
