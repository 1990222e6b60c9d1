"""python -m napari_nxtomo runs the command line."""
from .cli import main

raise SystemExit(main())
