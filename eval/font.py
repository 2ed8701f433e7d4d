"""A 3x5 pixel font for frame overlays (no text-rendering dependency needed)."""

from __future__ import annotations

import numpy as np

_GLYPHS = {
    "0": "111 101 101 101 111",
    "1": "010 110 010 010 111",
    "2": "111 001 111 100 111",
    "3": "111 001 111 001 111",
    "4": "101 101 111 001 001",
    "5": "111 100 111 001 111",
    "6": "111 100 111 101 111",
    "7": "111 001 001 001 001",
    "8": "111 101 111 101 111",
    "9": "111 101 111 001 111",
    "A": "010 101 111 101 101",
    "B": "110 101 110 101 110",
    "C": "111 100 100 100 111",
    "D": "110 101 101 101 110",
    "E": "111 100 110 100 111",
    "F": "111 100 110 100 100",
    "G": "111 100 101 101 111",
    "H": "101 101 111 101 101",
    "I": "111 010 010 010 111",
    "J": "001 001 001 101 111",
    "K": "101 101 110 101 101",
    "L": "100 100 100 100 111",
    "M": "101 111 111 101 101",
    "N": "110 101 101 101 101",
    "O": "111 101 101 101 111",
    "P": "111 101 111 100 100",
    "Q": "111 101 101 111 001",
    "R": "110 101 110 101 101",
    "S": "111 100 111 001 111",
    "T": "111 010 010 010 010",
    "U": "101 101 101 101 111",
    "V": "101 101 101 101 010",
    "W": "101 101 111 111 101",
    "X": "101 101 010 101 101",
    "Y": "101 101 010 010 010",
    "Z": "111 001 010 100 111",
    " ": "000 000 000 000 000",
    ".": "000 000 000 000 010",
    "-": "000 000 111 000 000",
    ":": "000 010 000 010 000",
    "/": "001 001 010 100 100",
    "=": "000 111 000 111 000",
    "+": "000 010 111 010 000",
    "_": "000 000 000 000 111",
}
_BITMAPS = {c: np.array([[b == "1" for b in row] for row in g.split()], dtype=bool) for c, g in _GLYPHS.items()}
_SCALED: dict[tuple[str, int], np.ndarray] = {}  # videos draw the same glyphs every frame: scale each once


def _glyph(ch: str, scale: int) -> np.ndarray:
    key = (ch if ch in _BITMAPS else " ", scale)
    if key not in _SCALED:
        _SCALED[key] = np.kron(_BITMAPS[key[0]], np.ones((scale, scale), dtype=bool))
    return _SCALED[key]


def draw_text(frame: np.ndarray, text: str, *, x: int = 2, y: int = 2, scale: int = 2) -> np.ndarray:
    """Draw `text` (upper-cased; unknown characters become spaces) in white on a dark box, in place.

    Args:
        frame: `(H, W, 3)` uint8.
        x, y: top-left corner in pixels. scale: pixels per font pixel.

    Returns:
        The same frame.
    """
    text = text.upper()
    width, height = (4 * len(text) + 1) * scale, 7 * scale
    y1, x1 = min(frame.shape[0], y + height), min(frame.shape[1], x + width)
    frame[y:y1, x:x1] = (frame[y:y1, x:x1] * 0.35).astype(np.uint8)
    for i, ch in enumerate(text):
        glyph = _glyph(ch, scale)
        gy, gx = y + scale, x + (1 + 4 * i) * scale
        region = frame[gy : gy + glyph.shape[0], gx : gx + glyph.shape[1]]
        region[glyph[: region.shape[0], : region.shape[1]]] = 255
    return frame
