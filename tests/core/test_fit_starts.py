"""Issue 15, item 3: the cost of a fit is bounded by the image, not by its start positions.

Starts closer than two column widths (one peak) are merged; starts that hold no
column of their own (noise peaks beside a column, the vacuum) are left out after
a first pass; starts denser than the columns (an inverted image, a wrong pixel
size) are refused before a long fit.  The speed against Atomap from Atomap's own
starts on the real ADF image: ``python benchmarks/bench_fitting.py --atomap-starts``.
"""

import numpy as np
import pytest

from napari_nxtomo.core.fitting import find_columns, fit_columns
from napari_nxtomo.core.simulate import render_gaussians

P = 0.2  # Å per pixel
WIDTH = 0.45  # Å


def _lattice_image(seed=0):
    """A 5 × 5 lattice of columns 3 Å apart with volumes 1-3 Å², Poisson noise at 1e5 e/Å²."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
    pos = np.column_stack([yy.ravel(), xx.ravel()]) * 3.0 + 4.0
    vol = rng.uniform(1.0, 3.0, len(pos))
    clean = 0.01 + render_gaussians(100, 100, pos[:, 0] / P, pos[:, 1] / P, vol / P**2, np.full(len(pos), WIDTH / P))
    dose = 1e5 * P**2
    return rng.poisson(clean * dose) / dose, pos, vol


def test_crowded_starts_are_merged_or_left_out_and_the_columns_fitted_right():
    image, pos, vol = _lattice_image()
    rng = np.random.default_rng(1)
    # a second start 0.55 Å from 5 columns (< two widths: merged), and 6 starts in the empty
    # space between columns, 1.5 Å from the nearest (noise peaks: left out)
    dup = pos[:5] + [0.0, 0.55]
    between = pos[[6, 7, 8, 11, 12, 13]] + [1.5, 1.5] + rng.normal(0, 0.05, (6, 2))
    start = np.concatenate([pos + rng.normal(0, 0.05, pos.shape), dup, between])
    clean = fit_columns(image, P, start[:25])
    with pytest.warns(UserWarning) as record:
        df = fit_columns(image, P, start)
    text = " ".join(str(w.message) for w in record)
    assert "5 of 36 start position(s) lie closer than" in text
    assert "6 of 36 start position(s) hold no column of their own" in text
    assert df.attrs["merged_starts"] == list(range(25, 30))
    assert df.attrs["left_out_starts"] == list(range(30, 36))
    assert len(df) == 25
    # the 25 true columns, as well as from the true starts alone (truth: positions, volumes)
    assert np.max(np.hypot(*(df[["y", "x"]].to_numpy() - pos).T)) < 0.02
    np.testing.assert_allclose(df.volume, vol, rtol=0.02)
    np.testing.assert_allclose(df.volume, clean.volume, rtol=1e-3)
    assert df.width.iloc[0] == pytest.approx(WIDTH, rel=0.01)
    # and in as few iterations as from the true starts (the spurious ones hold nothing back)
    assert df.attrs["converged"] and df.attrs["n_iter"] <= clean.attrs["n_iter"] + 3


def test_starts_denser_than_the_columns_are_refused_with_the_numbers():
    """The inverted image (dark columns) read uncalibrated: find gives a peak every few pixels; the fit
    refuses at once, saying how far apart the starts are and how wide the peaks."""
    image, _, _ = _lattice_image()
    inverted = image.max() - image
    rng = np.random.default_rng(2)
    inverted = inverted + rng.normal(0, 0.02 * inverted.std(), inverted.shape)
    start = find_columns(inverted, 1.0, min_distance=1.4)
    assert len(start) > 300
    with pytest.raises(ValueError, match=r"start positions are denser than the columns: [\d.]+ Å apart .* inverted"):
        fit_columns(inverted, 1.0, start)
