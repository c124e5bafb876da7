"""Render a matplotlib figure to PNG bytes."""

import io
from typing import Any

__all__ = ["png_bytes"]


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, cropped to everything drawn (titles, labels
    and legends outside the axes included, so nothing is cut off); laid out
    tightly unless it has a layout engine.  The caller closes it."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.1)
    return buffer.getvalue()
