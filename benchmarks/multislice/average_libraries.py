"""Average cross-section libraries computed with the same settings but other frozen-phonon seeds.

    PYTHONPATH=src python benchmarks/multislice/average_libraries.py A.json B.json [...] --out DIR

Each value of a library is a mean over its configurations (``n_phonons``), so the mean of several runs weighs each
by its number of configurations, and its standard error combines theirs the same way; an entry that only some runs
hold (a run with a smaller ``max_count``) is the mean of those (napari_nxtomo.core.library.average).  Every setting
but the seed, ``max_count`` and the run time must agree.  Written under its settings' hash in ``--out``.
"""

from __future__ import annotations

import argparse

from napari_nxtomo.core.library import CrossSectionLibrary, store_in_cache
from napari_nxtomo.core.library.average import average_libraries


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("libraries", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    lib = average_libraries([CrossSectionLibrary.read(p) for p in args.libraries])
    print(store_in_cache(lib, args.out), f"{lib.settings['n_phonons']} configurations, seeds {lib.settings['seed']}")


if __name__ == "__main__":
    main()
