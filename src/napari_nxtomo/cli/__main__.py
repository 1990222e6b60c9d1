"""``python -m napari_nxtomo.cli``: the command line."""

from .main import main

raise SystemExit(main())
