"""Frame sizes the benchmark runs at, and whether one fits this machine's free memory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from housing_contracts import COLUMNS

#: Bytes of one row in memory: float64 per contract column.
ROW_BYTES = 8 * len(COLUMNS)


@dataclass(frozen=True)
class Size:
    """A number of rows and its short label (``20k``, ``1M``, ``10M``)."""

    rows: int

    @property
    def label(self) -> str:
        for unit, scale in (("M", 1_000_000), ("k", 1_000)):
            if self.rows >= scale and self.rows % (scale // 10) == 0:
                return f"{self.rows / scale:g}{unit}"
        return str(self.rows)

    @property
    def frame_bytes(self) -> int:
        return self.rows * ROW_BYTES

    @classmethod
    def parse(cls, text: str) -> Size:
        """``20k``, ``1M``, ``10M`` or a plain number of rows."""
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
        if match is None:
            raise ValueError(f"size {text!r}: expected rows like 20k, 1M, 10M or 2000")
        scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
        return cls(int(float(match.group(1)) * scale))


def available_bytes() -> int:
    """``MemAvailable`` from /proc/meminfo."""
    match = re.search(r"^MemAvailable:\s+(\d+) kB$", Path("/proc/meminfo").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError("/proc/meminfo has no MemAvailable line")
    return int(match.group(1)) * 1024


def fits_in_memory(size: Size, copies: float) -> str | None:
    """None if ``copies`` frames of ``size`` fit in the free memory now, else the reason they don't."""
    needed, free = int(size.frame_bytes * copies), available_bytes()
    if needed <= free:
        return None
    return f"needs ~{needed / 1e9:.1f} GB ({copies:g} × the frame), only {free / 1e9:.1f} GB free"
