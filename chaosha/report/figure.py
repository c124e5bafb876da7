"""matplotlib, loaded when a picture is drawn, and a figure as PNG bytes."""

import io
from typing import Any

__all__ = ["png_bytes", "pyplot", "TimelineUnavailable"]


class TimelineUnavailable(RuntimeError):
    """The picture cannot be drawn (matplotlib missing, nothing to draw)."""


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend.  Imported here, not at the
    top: matplotlib takes ~0.5 s to load, and only reports and trends draw."""
    try:
        import matplotlib
    except ImportError:
        raise TimelineUnavailable(
            "matplotlib is not installed (pip install matplotlib), so the timeline picture was not drawn"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, cropped to everything drawn (titles, labels
    and legends outside the axes included, so nothing is cut off); laid out
    tightly unless it has a layout engine.  The caller closes it."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.1)
    return buffer.getvalue()
