"""Files the project writes: tables of columns and atoms, calibrated images.

Every writer here replaces its file in one step (:func:`atomic_open`): a
reader never sees half a file, and a failed write leaves the old one.

Points CSV
----------
One row per point: the coordinates in Å (``y, x`` for image columns;
``z, y, x`` for 3D atoms, napari order), then every feature.  Lines starting
with ``#`` before the table carry what belongs to the whole layer:

    # napari-nxtomo points v1
    # name: PbSe [110] columns
    # metadata: {"zone_axis": [1, 1, 0], ...}        (JSON)
    # rows: 241
    y,x,volume,...

Any CSV reader that skips ``#`` comments (``pandas.read_csv(path,
comment="#")``) reads the table.  The row count lets :func:`read_points_csv`
refuse a file cut short (an interrupted copy); files written before it was
kept read as before.  A UTF-8 byte-order mark (spreadsheets add one) is
accepted.

Extended XYZ
------------
Atoms with their per-atom values, readable by ASE and OVITO::

    931
    Properties=species:S:1:pos:R:3:certainty:R:1 lattice_parameter=6.12 ...
    Pb 0.0 0.0 0.0 1.0
    ...

Positions are Cartesian ``x, y, z`` in Å (crystal frame).

Images
------
:func:`write_image_tiff`: an ImageJ TIFF calibrated in nm, with the layer
metadata as JSON (what microscope software writes; the plugin reads it back).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

CSV_MAGIC = "# napari-nxtomo points v1"


@contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """Open a file for writing that replaces ``path`` only once it is complete.

    The data go to a temporary file beside ``path`` (same folder, so the
    final ``os.replace`` is atomic); on an error the temporary file is
    removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
    mode : str
        ``"w"`` (text) or ``"wb"`` (bytes).
    **kwargs
        Passed to :func:`open` (``encoding``, ``newline``).

    Yields
    ------
    file object

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_open(folder / "a.txt", encoding="utf-8") as fh:
    ...     _ = fh.write("complete")
    >>> (folder / "a.txt").read_text(encoding="utf-8"), sorted(p.name for p in folder.iterdir())
    ('complete', ['a.txt'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fh = open(tmp, mode, **kwargs)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        with fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_points_csv(path, coords, features=None, *, metadata=None, name=None) -> Path:
    """Write points (Å) and their features as CSV with a metadata header.

    Parameters
    ----------
    path : str or Path
    coords : (N, 2) or (N, 3) array
        ``(y, x)`` or ``(z, y, x)`` in Å.
    features : pandas.DataFrame, optional
        One row per point; columns named like the coordinate axes are replaced
        by ``coords``.
    metadata : dict, optional
        Layer metadata, stored as JSON (values JSON cannot hold become strings).
    name : str, optional
        Layer name.

    Returns
    -------
    Path

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> path = Path(mkdtemp()) / "columns.csv"
    >>> _ = write_points_csv(path, [[1.0, 2.0], [3.0, 4.5]], pd.DataFrame({"count": [3, 5]}),
    ...                      metadata={"zone_axis": (1, 1, 0)}, name="demo columns")
    >>> print(path.read_text(encoding="utf-8"), end="")
    # napari-nxtomo points v1
    # name: demo columns
    # metadata: {"zone_axis": [1, 1, 0]}
    # rows: 2
    y,x,count
    1,2,3
    3,4.5,5
    """
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] not in (2, 3):
        raise ValueError(f"points need (N, 2) or (N, 3) coordinates, got shape {coords.shape}")
    axes = ["y", "x"] if coords.shape[1] == 2 else ["z", "y", "x"]
    table = pd.DataFrame(coords, columns=axes)
    shared = []
    if features is not None and len(features.columns):
        if len(features) != len(coords):
            raise ValueError(f"{len(coords)} points but {len(features)} rows of features")
        # features named like an axis (the fit table's y, x) are the coordinates: written once
        shared = [c for c in features.columns if c in axes]
        table = pd.concat([table, features.drop(columns=shared).reset_index(drop=True)], axis=1)
        order = [c for c in features.columns]
        table = table[[a for a in axes] + [c for c in order if c not in axes]]
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(CSV_MAGIC + "\n")
        if name:
            fh.write(f"# name: {name}\n")
        if shared:
            fh.write(f"# coordinate_features: {','.join(shared)}\n")
        fh.write(f"# metadata: {json.dumps(_jsonable(metadata or {}))}\n")
        fh.write(f"# rows: {len(table)}\n")  # a file cut short is told from a complete one (read_points_csv)
        table.to_csv(fh, index=False, float_format="%.10g")
    return path


def is_points_csv(path) -> bool:
    """True for a CSV written by :func:`write_points_csv`.

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> folder = Path(mkdtemp())
    >>> is_points_csv(write_points_csv(folder / "a.csv", np.zeros((1, 2)))), is_points_csv(folder / "missing.csv")
    (True, False)
    """
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.readline().strip() == CSV_MAGIC
    except (OSError, UnicodeDecodeError):
        return False


@contextmanager
def _text_file(path, what):
    """Turn a decoding error of a text file into a message naming the file and what it should be."""
    try:
        yield
    except UnicodeDecodeError:
        raise ValueError(
            f"{Path(path).name} is not {what}: it is not UTF-8 text (an image or other binary file?); "
            f"give {what} (text)"
        ) from None


def read_points_csv(path):
    """Read a points CSV back.

    Returns
    -------
    coords : (N, 2) or (N, 3) ndarray
        Å, napari order.
    features : pandas.DataFrame
    metadata : dict
    name : str or None

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> path = write_points_csv(Path(mkdtemp()) / "atoms.csv", [[0.0, 1.0, 2.0]], pd.DataFrame({"element": ["Pb"]}),
    ...                         metadata={"lattice_parameter": 6.12})
    >>> coords, features, metadata, name = read_points_csv(path)
    >>> coords.tolist(), features["element"].tolist(), metadata, name
    ([[0.0, 1.0, 2.0]], ['Pb'], {'lattice_parameter': 6.12}, None)
    """
    path = Path(path)
    header = {}
    with open(path, encoding="utf-8-sig") as fh, _text_file(path, "a CSV table"):
        for line in fh:
            if not line.startswith("#"):
                break
            m = re.match(r"#\s*(\w+):\s*(.*)$", line.rstrip("\n"))
            if m:
                header[m.group(1)] = m.group(2)
    try:
        table = pd.read_csv(path, comment="#", encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"cannot read the table in {path.name}: {exc}") from exc
    _check_complete(path, header, len(table))
    axes = ["z", "y", "x"] if "z" in table.columns else ["y", "x"]
    missing = [a for a in axes if a not in table.columns]
    if missing:
        raise ValueError(f"{path.name} has no coordinate column(s) {missing}: a points table needs y, x (and z in 3D)")
    coords = table[axes].to_numpy(dtype=float)
    features = table.drop(columns=axes)
    shared = [c for c in header.get("coordinate_features", "").split(",") if c in axes]
    for c in reversed(shared):
        features.insert(0, c, table[c].to_numpy(dtype=float))
    try:
        metadata = json.loads(header.get("metadata", "{}"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"the metadata line of {path.name} is not valid JSON: {exc}") from exc
    return coords, features, metadata, header.get("name")


def _check_complete(path: Path, header: dict, n_rows: int) -> None:
    """Refuse a points CSV cut short: fewer rows than its header's ``rows``, or a last line without its end."""
    if "rows" not in header:  # written before the row count was kept
        return
    try:
        want = int(header["rows"])
    except ValueError:
        raise ValueError(f"the 'rows' line of {path.name} is not a number: {header['rows']!r}") from None
    with open(path, "rb") as fh:
        fh.seek(max(path.stat().st_size - 1, 0))
        ends = fh.read(1) in (b"\n", b"")
    if n_rows != want or not ends:
        raise ValueError(f"{path.name} is cut short: its header says {want} rows, the file holds {n_rows}"
                         f"{'' if ends else ' and its last line is incomplete'} (an interrupted copy or write); "
                         "copy or write it again")


_XYZ_TYPES = {"S": str, "R": float, "I": int, "L": bool}


def write_xyz(path, positions, elements, properties=None, *, info=None) -> Path:
    """Write atoms as extended XYZ.

    Parameters
    ----------
    path : str or Path
    positions : (N, 3) array
        Cartesian ``x, y, z`` in Å.
    elements : (N,) sequence of str
    properties : dict of str to (N,) array, optional
        Per-atom values (e.g. ``certainty``); float, int or bool.
    info : dict, optional
        Per-frame values written as ``key=value`` on the comment line.

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> path = write_xyz(Path(mkdtemp()) / "pb2.xyz", [[0, 0, 0], [3.06, 3.06, 0]], ["Pb", "Pb"],
    ...                  {"certainty": np.array([1.0, 0.5])}, info={"lattice_parameter": 6.12})
    >>> print(path.read_text(encoding="utf-8"), end="")
    2
    Properties=species:S:1:pos:R:3:certainty:R:1 lattice_parameter=6.12
    Pb 0.000000 0.000000 0.000000 1
    Pb 3.060000 3.060000 0.000000 0.5
    """
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must be (N, 3) x, y, z in Å, got shape {pos.shape}")
    els = np.asarray(elements).astype(str)
    if els.shape != (len(pos),):
        raise ValueError(f"{len(pos)} positions but {els.size} elements")
    props = {k: np.asarray(v) for k, v in (properties or {}).items()}
    spec = ["species:S:1", "pos:R:3"]
    for k, v in props.items():
        if v.shape != (len(pos),):
            raise ValueError(f"property {k!r} needs one value per atom ({len(pos)}), got shape {v.shape}")
        code = "L" if v.dtype == bool else "I" if np.issubdtype(v.dtype, np.integer) else "R"
        spec.append(f"{k}:{code}:1")
    words = [f"Properties={':'.join(spec)}"]
    for k, v in (info or {}).items():
        text = json.dumps(_jsonable(v)) if not isinstance(v, str) else v
        needs_quotes = re.search(r"[\s=]", text) is not None
        words.append(f"{k}={shlex.quote(text) if needs_quotes else text}")
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{len(pos)}\n{' '.join(words)}\n")
        cols = [els] + [pos[:, i] for i in range(3)] + list(props.values())
        for row in zip(*cols):
            out = [row[0]] + [f"{v:.6f}" for v in row[1:4]]
            for v in row[4:]:
                out.append("T" if v is True or v is np.True_ else "F" if isinstance(v, (bool, np.bool_)) else
                           str(int(v)) if isinstance(v, (int, np.integer)) else f"{float(v):.6g}")
            fh.write(" ".join(out) + "\n")
    return path


def read_xyz(path):
    """Read a (extended) XYZ file: the first frame.

    Returns
    -------
    positions : (N, 3) ndarray
        ``x, y, z`` in Å.
    elements : (N,) ndarray of str
    properties : dict of str to ndarray
        Per-atom values other than species and positions.
    info : dict
        ``key=value`` pairs of the comment line (JSON-decoded where possible).

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> path = write_xyz(Path(mkdtemp()) / "se.xyz", [[3.06, 0, 0]], ["Se"], {"certainty": np.array([0.9])})
    >>> positions, elements, properties, info = read_xyz(path)
    >>> positions.tolist(), elements.tolist(), properties["certainty"].tolist()
    ([[3.06, 0.0, 0.0]], ['Se'], [0.9])
    """
    path = Path(path)
    with open(path, encoding="utf-8-sig") as fh, _text_file(path, "an XYZ file"):
        lines = fh.read().splitlines()
    try:
        n = int(lines[0].split()[0])
    except (IndexError, ValueError):
        raise ValueError(f"{path.name} is not an XYZ file: its first line must be the number of atoms") from None
    _check_xyz_count(path, lines, n)
    info = {}
    try:
        words = shlex.split(lines[1])
    except ValueError:
        words = []
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            try:
                info[k] = json.loads(v)
            except json.JSONDecodeError:
                info[k] = v
    spec = info.pop("Properties", "species:S:1:pos:R:3")
    parts = str(spec).split(":")
    fields = [(parts[i], parts[i + 1], int(parts[i + 2])) for i in range(0, len(parts) - 2, 3)]
    rows = [line.split() for line in lines[2 : 2 + n]]
    width = sum(f[2] for f in fields)
    if any(len(r) < width for r in rows):
        raise ValueError(f"{path.name}: some atom lines have fewer than {width} values")
    out, col = {}, 0
    for name, code, count in fields:
        conv = _XYZ_TYPES.get(code, str)
        vals = [[r[col + j] for j in range(count)] for r in rows]
        if conv is bool:
            arr = np.array([[v in ("T", "True", "1") for v in r] for r in vals])
        else:
            try:
                arr = np.array(vals, dtype=conv)
            except ValueError as exc:
                raise ValueError(f"{path.name}: column {name!r} is not {conv.__name__}: {exc}") from None
        out[name] = arr[:, 0] if count == 1 else arr
        col += count
    if "species" not in out or "pos" not in out:
        raise ValueError(f"{path.name} has no species or positions")
    elements = out.pop("species").astype(str)
    positions = out.pop("pos").astype(float)
    return positions, elements, out, info


def _check_xyz_count(path: Path, lines: list, n: int) -> None:
    """Refuse an XYZ file whose atom count (line 1) disagrees with its atom lines, naming the lines.

    Lines after the ``n`` atoms are allowed when they are blank or start the
    next frame (a line holding one integer).
    """
    atoms = len(lines) - 2
    if n < 1 or atoms < n:
        raise ValueError(f"{path.name}: line 1 says {n} atoms but {max(atoms, 0)} atom lines follow (lines 3 to "
                         f"{len(lines)}): the file is cut short, or line 1 is wrong; correct the count or export the "
                         "model again")
    rest = [i for i in range(n + 2, len(lines)) if lines[i].strip()]
    if rest and not re.fullmatch(r"\s*\d+\s*", lines[rest[0]]):
        extra = len(rest)
        raise ValueError(f"{path.name}: line 1 says {n} atoms but {n + extra} atom lines follow; line "
                         f"{rest[0] + 1} is beyond the count: correct the number on line 1 (to {n + extra} if every "
                         "line is an atom)")


def write_image_tiff(path, image, pixel_size_A: float, metadata: dict | None = None) -> Path:
    """Write an image as an ImageJ TIFF calibrated in nm (what microscope software does).

    Parameters
    ----------
    path : str or Path
    image : (H, W) array
        Written as float32.
    pixel_size_A : float
        Pixel size in Å (stored as pixels per nm in the TIFF resolution tags).
    metadata : dict, optional
        Stored as JSON in the ImageJ ``Info`` field (zone axis, tilt axis, ...).

    Returns
    -------
    Path
        The TIFF written (float32, resolution in pixels per nm).

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> from napari_nxtomo.core.io import load_image
    >>> path = Path(mkdtemp()) / "im.tif"
    >>> _ = write_image_tiff(path, np.ones((4, 6)), 0.2, {"zone_axis": [1, 1, 0]})
    >>> data, pixel, md = load_image(path)
    >>> data.shape, round(pixel, 4), md["zone_axis"]
    ((4, 6), 0.2, (1, 1, 0))
    """
    import tifffile

    px_nm = pixel_size_A / 10.0
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        tifffile.imwrite(
            fh,
            np.asarray(image).astype(np.float32),
            imagej=True,
            resolution=(1.0 / px_nm, 1.0 / px_nm),
            metadata={"unit": "nm", "Info": json.dumps(metadata or {})},
        )
    return path
