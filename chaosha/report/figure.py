"""Render a matplotlib figure to PNG bytes."""

import io
from typing import Any

__all__ = ["png_bytes"]


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure, laid out tightly, as PNG bytes (the caller closes it)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
