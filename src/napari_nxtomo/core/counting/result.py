"""The result of a counting: :class:`CountResult`, built in one place (:meth:`CountResult.from_classes`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class CountResult:
    """Atom counts of a set of columns and the model they came from.

    Build one with :meth:`from_classes`, which fills the derived fields
    (labels, counts, number of classes, lowest count) the same way for every
    counting method.

    Attributes
    ----------
    counts : (N,) int ndarray
        Atom count of each column (for ``method == "mixed"``: the number of
        Pb, i.e. of the heavy element).
    n_components : int
        Number of classes of the model used (mixture components; library
        entries; lattice classes for mixed columns).
    icl : (max_components,) ndarray
        ICL of the common-width mixture for K = 1..max_components (NaN where
        not computed, e.g. for a library).  For several types, one row per
        type (order of ``by_type``).
    means : (K,) ndarray
        Class means, ascending, Å².
    sigma : float
        The common standard deviation of the classes, Å² (for several types:
        an array, one value per component).
    weights : (K,) ndarray
        Mixing proportions (sum to one over all columns counted).
    labels : (N,) int ndarray
        Class of each column (index into ``means``).
    posterior : (N, K) ndarray
        Probability that column i belongs to class k (``responsibilities``).
    component_counts : (K,) int ndarray
        Count of each class.
    lowest_count : int
        Count of the lowest class.
    lowest_count_inferred : bool
        True when ``lowest_count`` was inferred from the data rather than given
        or defaulted (see :func:`infer_lowest_count`).
    method : str
        ``"gmm"`` (free mixture, ICL), ``"curve"`` (classes on a cross-section
        curve), ``"library"`` (nearest library value) or ``"mixed"`` (Pb
        counts of mixed Pb/Se columns, :func:`pb_counts_mixed`); several
        types: their methods joined by "+".
    volumes : (N,) ndarray
        The cross-sections counted, Å².
    log_likelihood : float
        ln L of the model at the result.
    n_components_icl : int
        The K at the ICL minimum (differs from ``n_components`` when forced).
    notes : list of str
        Plain-language remarks: what was inferred, what was ambiguous.
    entropy : str
        The ICL's entropy convention.
    library : dict or None
        The library used (count → Å²).
    classes, minor_counts, count_posterior, count_values
        Mixed columns: (n_Pb, n_Se) of each class, most probable n_Se of each
        column, (N, P) probability of each Pb count, those Pb counts.
    gmm : CountResult or None
        ``"curve"``/``"mixed"``: the free mixture fitted first (its ICL curve
        is ``icl``).
    params : dict
        ``"curve"``/``"mixed"``: the fitted curve ``c`` (Å²), ``pb_step`` =
        g(1), ``se_ratio``, the starts tried.  ``"gmm"`` with errors:
        ``extra_sigma`` (s of the chosen fit, Å²), ``median_error``,
        ``extra_sigma_by_k`` (s for K = 1..), ``resolved_k`` (the K with
        s ≤ ``resolved_factor`` × the median error).
    component_sigma, component_type : (K,) ndarray
        Width and type of each component (several types).
    types : (N,) ndarray of str or None
    by_type : dict of str to CountResult
        One result per column type when ``types`` was given.

    Methods
    -------
    from_classes(volumes, posterior, means, sigma, weights, component_counts, ...)
        The one constructor used by the counting methods.
    pdf(x)
        Mixture density and its components, for drawing over a histogram.
    to_frame()
        Per-column table (volume, count, class, probability).

    Examples
    --------
    Two classes of 3 and 4 atoms (0.06 and 0.08 Å², width 0.005 Å²), three columns:

    >>> import numpy as np
    >>> from napari_nxtomo.core.counting import CountResult
    >>> post = np.array([[0.9, 0.1], [0.2, 0.8], [0.0, 1.0]])
    >>> res = CountResult.from_classes(np.array([0.061, 0.079, 0.083]), post, np.array([0.06, 0.08]), 0.005,
    ...                                np.array([1 / 3, 2 / 3]), [3, 4], method="gmm", icl=np.full(1, np.nan))
    >>> res.counts, res.n_components, res.lowest_count, res.count_range()
    (array([3, 4, 4]), 2, 3, (3, 4))
    >>> res.to_frame()[["count", "probability"]].round(2).values.tolist()
    [[3.0, 0.9], [4.0, 0.8], [4.0, 1.0]]
    >>> round(float(res.pdf(0.07)[0]), 2)  # both classes 2 widths away: exp(-2) / (0.005 √(2π)), 1/Å²
    10.8
    """

    counts: np.ndarray
    n_components: int
    icl: np.ndarray
    means: np.ndarray
    sigma: float
    weights: np.ndarray
    labels: np.ndarray
    posterior: np.ndarray
    component_counts: np.ndarray
    lowest_count: int
    lowest_count_inferred: bool
    method: str
    volumes: np.ndarray
    log_likelihood: float = float("nan")
    n_components_icl: int = 0
    entropy: str = "soft"
    notes: list = field(default_factory=list)
    library: dict | None = None
    #: for ``method == "mixed"`` (or a library keyed by pairs): (L, 2) int, (n_Pb, n_Se) of each class
    classes: np.ndarray | None = None
    #: for ``method == "mixed"``: (N,) most probable number of Se (weakly determined)
    minor_counts: np.ndarray | None = None
    #: for ``method == "mixed"``: (N, P) probability of each Pb count ``count_values`` (summed over n_Se)
    count_posterior: np.ndarray | None = None
    count_values: np.ndarray | None = None
    #: for ``method == "mixed"``: the plain common-width mixture fitted first (its ICL curve)
    gmm: "CountResult | None" = None
    #: for ``method == "mixed"``: the fitted cross-section curve and the Se/Pb ratio used
    params: dict = field(default_factory=dict)
    #: (K,) standard deviation of each component (equal within a type)
    component_sigma: np.ndarray | None = None
    #: (K,) type of each component, for several types
    component_type: np.ndarray | None = None
    types: np.ndarray | None = None
    by_type: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.component_sigma is None:
            self.component_sigma = np.full(len(self.means), float(np.mean(self.sigma)))

    @classmethod
    def from_classes(cls, volumes, posterior, means, sigma, weights, component_counts, *, method: str, icl,
                     labels=None, counts=None, lowest_count=None, lowest_count_inferred: bool = False,
                     **details) -> "CountResult":
        """A result from its classes; the derived fields are filled here, one way for every method.

        Parameters
        ----------
        volumes : (N,) array
            The cross-sections counted, Å².
        posterior : (N, K) array
            Class probabilities of each column.
        means, weights : (K,) arrays
            Class means (Å²) and mixing proportions.
        sigma : float or (K,) array
            Common width of the classes (Å²), or one per class.
        component_counts : (K,) array of int
            Count of each class.
        method : str
            How the classes were found (see the class docstring).
        icl : ndarray
            ICL curve of the free mixture (NaN where not computed).
        labels : (N,) array of int, optional
            Class of each column; default: the most probable class.
        counts : (N,) array of int, optional
            Count of each column; default: the count of its class.
        lowest_count : int, optional
            Default: the smallest class count.
        lowest_count_inferred : bool
        **details
            The remaining fields (``log_likelihood``, ``notes``, ``gmm``,
            ``params``, ...).

        Returns
        -------
        CountResult
        """
        component_counts = np.asarray(component_counts).astype(int)
        labels = np.argmax(posterior, axis=1) if labels is None else labels
        labels = np.asarray(labels).astype(int)
        counts = component_counts[labels] if counts is None else np.asarray(counts).astype(int)
        lowest = component_counts.min() if lowest_count is None else lowest_count
        return cls(counts=counts, n_components=int(len(means)), icl=icl, means=means, sigma=sigma, weights=weights,
                   labels=labels, posterior=posterior, component_counts=component_counts, lowest_count=int(lowest),
                   lowest_count_inferred=bool(lowest_count_inferred), method=method, volumes=volumes, **details)

    @property
    def responsibilities(self) -> np.ndarray:
        """Alias of ``posterior``: (N, K) class probabilities."""
        return self.posterior

    @property
    def probability(self) -> np.ndarray:
        """(N,) posterior probability of the count given to each column (mixed: of its Pb count, its Se summed
        over); 0 where that count is none of the classes' (a count moved by hand or by :func:`count_views` keeps
        the probability of the count it now has, not of the one it had)."""
        if self.count_posterior is not None:
            values, post = np.asarray(self.count_values), self.count_posterior
        else:
            values, post = self.component_counts, self.posterior
        return np.where(values[None, :] == np.asarray(self.counts)[:, None], post, 0.0).sum(axis=1)

    def pdf(self, x):
        """The fitted mixture density and its components at cross-sections ``x``.

        Parameters
        ----------
        x : array
            Cross-sections, Å².

        Returns
        -------
        total : ndarray, shape of ``x``
            Σ_k τ_k N(x | μ_k, s_k²), in 1/Å² (integrates to one; multiply by
            the number of columns and the bin width to draw over a histogram of
            counts).
        components : ndarray, shape ``x.shape + (K,)``
            τ_k N(x | μ_k, s_k²) for each class.
        """
        x = np.asarray(x, dtype=float)
        s = np.asarray(self.component_sigma, dtype=float)
        z = (x[..., None] - self.means) / s
        comp = self.weights * np.exp(-0.5 * z * z) / (s * np.sqrt(2.0 * np.pi))
        return comp.sum(axis=-1), comp

    def count_range(self) -> tuple[int, int]:
        """The lowest and the highest count given to a column."""
        return int(np.min(self.counts)), int(np.max(self.counts))

    def to_frame(self) -> pd.DataFrame:
        """Per-column table: volume, count, class, probability (and n_minor for mixed, type for several types)."""
        df = pd.DataFrame(
            {
                "volume": self.volumes,
                "count": self.counts,
                "class": self.labels,
                "probability": self.probability,
            }
        )
        if self.minor_counts is not None:
            df["n_minor"] = self.minor_counts
        if self.types is not None:
            df["type"] = self.types
        return df

    def __repr__(self) -> str:
        n = len(self.counts)
        span = f"{int(self.counts.min())}..{int(self.counts.max())}" if n else "-..-"
        return (
            f"CountResult(method={self.method!r}, n_columns={n}, n_components={self.n_components}, "
            f"counts {span}, lowest_count={self.lowest_count}{' (inferred)' if self.lowest_count_inferred else ''})"
        )
