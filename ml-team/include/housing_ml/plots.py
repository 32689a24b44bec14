"""Figures logged with every training run (matplotlib, headless Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # workers have no display; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray) -> Figure:
    """Scatter of predicted against actual values with the identity line."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(actual, predicted, s=3, alpha=0.3)
    lo, hi = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1)
    ax.set(xlabel="actual MedHouseVal ($100k)", ylabel="predicted", title="Predicted vs actual (test)")
    fig.tight_layout()
    return fig


def residual_map(longitude: np.ndarray, latitude: np.ndarray, residuals: np.ndarray) -> Figure:
    """Residuals (actual - predicted) over longitude/latitude, colour centred on zero."""
    fig, ax = plt.subplots(figsize=(6, 6))
    limit = float(np.quantile(np.abs(residuals), 0.98)) or 1.0
    points = ax.scatter(longitude, latitude, c=residuals, s=3, cmap="coolwarm", vmin=-limit, vmax=limit)
    fig.colorbar(points, ax=ax, label="residual ($100k)")
    ax.set(xlabel="Longitude", ylabel="Latitude", title="Residuals over California (test)")
    fig.tight_layout()
    return fig


def feature_importance(importances: pd.Series) -> Figure:
    """Horizontal bars of permutation importance per contract feature."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.barh(importances.index, importances.to_numpy())
    ax.set(xlabel="mean drop in R² when permuted", title="Permutation feature importance (test sample)")
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    """Release a figure (pyplot keeps every open figure alive)."""
    plt.close(fig)
