"""One major's frame as another's: :func:`convert`, from the 1.x -> 2.0 table in ``dataset.py``.

The producer publishes 2.0 as the converted 1.x frame it validated; a consumer that speaks one major
internally converts what it reads. Multiplying by the same positive factor is monotonic, so every frame
valid under 1.x is valid under 2.0 (``tests/test_conversion.py`` holds both models to that).
"""

from __future__ import annotations

import pandas as pd

from housing_contracts.contract.versions import V1, V2, V2_FROM_V1, Contract

#: (source major, target major) -> {source column: (target column, factor, multiply or divide)}
_STEPS: dict[tuple[int, int], dict[str, tuple[str, float, bool]]] = {
    (V1.major, V2.major): {old: (new, factor, True) for old, (new, factor) in V2_FROM_V1.items()},
    # dividing by the factor, not multiplying by its inverse: the census values come back bit for bit
    (V2.major, V1.major): {new: (old, factor, False) for old, (new, factor) in V2_FROM_V1.items()},
}


def convert(
    frame: pd.DataFrame, source: Contract, target: Contract, *, consume: bool = False
) -> pd.DataFrame:
    """``frame`` (in ``source``'s columns) in ``target``'s columns and units, in ``target``'s column order.

    A new frame; ``frame`` is not changed, unless ``consume``: then each column is dropped from ``frame``
    once converted (and moved, not copied, when its unit is the same), so a reader that no longer needs
    the original holds one frame plus one column at the peak instead of two frames; ``frame`` ends empty.
    Returns ``frame`` itself when both are the same major. KeyError names a column of ``source`` that
    ``frame`` lacks.
    """
    if source.major == target.major:
        return frame
    try:
        step = _STEPS[(source.major, target.major)]
    except KeyError:
        raise ValueError(f"no conversion from {source.label} to {target.label}") from None
    missing = [column for column in source.columns if column not in frame.columns]
    if missing:
        raise KeyError(f"cannot convert to {target.label}: the frame lacks {source.label} columns {missing}")
    converted = {}
    for column in source.columns:
        name, factor, multiply = step[column]
        values = (frame.pop(column) if consume else frame[column]).to_numpy()
        if factor == 1.0:
            converted[name] = values if consume else values.copy()
        else:
            converted[name] = values * factor if multiply else values / factor
        del values  # a consumed column's memory goes as soon as its converted copy exists
    return pd.DataFrame(converted, index=frame.index, columns=list(target.columns), copy=False)
