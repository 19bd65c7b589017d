"""CSV ingestion: read a user's CSV with its dialect, check it, split it, write canonical CSV.

Every later step reads the canonical form (comma, header, empty cell = missing), so
CSV options are given once, here, as TFX's CsvExampleGen takes them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Optional, Sequence

import pandas as pd

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError


@dataclass
class CsvOptions:
    """How to parse a CSV file.

    Attributes:
        delimiter: Field separator, one character.
        has_header: Whether the first line holds the column names.
        column_names: Names to use; required when ``has_header`` is false, and
            replaces the header when given with one.
        missing_values: Strings that mean a missing value (after trimming).
            ``None`` means :data:`DEFAULT_MISSING_VALUES`.
        trim_whitespace: Strip spaces around every value and column name.
    """

    delimiter: str = ","
    has_header: bool = True
    column_names: Optional[list[str]] = None
    missing_values: Optional[list[str]] = None
    trim_whitespace: bool = True

    def __post_init__(self) -> None:
        if len(self.delimiter) != 1:
            raise InputError(f"delimiter must be one character, got {self.delimiter!r}")
        if not self.has_header and not self.column_names:
            raise InputError("has_header=False needs column_names")


def _to_numeric_where_possible(df: pd.DataFrame) -> pd.DataFrame:
    """Turns columns whose every present value is a number into numeric columns."""
    out = df.copy()
    for column in out.columns:
        present = out[column].dropna()
        if present.empty:
            continue
        converted = pd.to_numeric(present, errors="coerce")
        if converted.notna().all():
            out[column] = pd.to_numeric(out[column])
    return out


def read_csv(uri: str, options: Optional[CsvOptions] = None) -> pd.DataFrame:
    """Reads a CSV file into a DataFrame with numeric columns typed as numbers.

    Args:
        uri: Local path or ``gs://`` URI.
        options: The CSV dialect; defaults to :class:`CsvOptions`.

    Returns:
        The data, missing values as NaN.

    Raises:
        InputError: The file is missing, empty, has no data rows, repeats a column
            name or has rows with the wrong number of fields.
    """
    options = options or CsvOptions()
    text = uri_io.read_bytes(uri).decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise InputError(f"file is empty: {uri}")
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=options.delimiter) if row]
    header = rows.pop(0) if options.has_header else []
    if options.column_names:
        header = list(options.column_names)
    if options.trim_whitespace:
        header = [name.strip() for name in header]
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates or "" in header:
        raise InputError(f"{uri}: duplicate or empty column names in header {header}")
    for line_number, row in enumerate(rows, start=2 if options.has_header else 1):
        if len(row) != len(header):
            raise InputError(
                f"malformed CSV {uri}: line {line_number} has {len(row)} fields, "
                f"the header has {len(header)}"
            )
    if not rows:
        raise InputError(f"{uri} has a header but no data rows")
    df = pd.DataFrame(rows, columns=header, dtype=str)
    if options.trim_whitespace:
        df = df.apply(lambda s: s.str.strip())
    missing = (
        uri_io.DEFAULT_MISSING_VALUES if options.missing_values is None else options.missing_values
    )
    df = df.mask(df.isin(list(missing)))
    return _to_numeric_where_possible(df)


def require_columns(df: pd.DataFrame, required: Sequence[str], source: str) -> None:
    """Raises :class:`InputError` naming every required column that ``df`` lacks."""
    absent = [c for c in required if c and c not in df.columns]
    if absent:
        raise InputError(
            f"{source} lacks required column(s) {absent}; its columns are {list(df.columns)}"
        )


def split_train_eval(
    df: pd.DataFrame, eval_fraction: float, seed: int, stratify_column: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splits rows at random into train and eval, per class of ``stratify_column`` if given.

    Args:
        df: All rows.
        eval_fraction: Share of rows for eval, in (0, 1).
        seed: Random seed; the same seed gives the same split.
        stratify_column: Keep this column's class balance in both parts.

    Returns:
        ``(train, eval)`` with fresh indexes.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise InputError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
    groups = [g for _, g in df.groupby(stratify_column, dropna=False)] if stratify_column else [df]
    eval_parts = [g.sample(frac=eval_fraction, random_state=seed) for g in groups]
    eval_index = pd.Index([]).append([p.index for p in eval_parts])
    eval_df = df.loc[sorted(eval_index)]
    train_df = df.drop(eval_index)
    if train_df.empty or eval_df.empty:
        raise InputError(f"{len(df)} rows are too few to split with eval_fraction={eval_fraction}")
    return train_df.reset_index(drop=True), eval_df.reset_index(drop=True)
