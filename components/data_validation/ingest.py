"""CSV ingestion: read a user's CSV with its dialect, check it, split it, write canonical CSV.

Every later step reads the canonical form (comma, header, empty cell = missing), so
CSV options are given once, here, as TFX's CsvExampleGen takes them.
"""

from __future__ import annotations

import codecs
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
        encoding: The file's text encoding, decoded strictly; a byte order mark (UTF-8,
            UTF-16) overrides it.
        mixed_numeric: A column numeric in most rows but holding text in others:
            ``"error"`` stops, naming the column and the text; ``"missing"`` reads those
            text cells as missing.
    """

    delimiter: str = ","
    has_header: bool = True
    column_names: Optional[list[str]] = None
    missing_values: Optional[list[str]] = None
    trim_whitespace: bool = True
    encoding: str = "utf-8"
    mixed_numeric: str = "error"

    def __post_init__(self) -> None:
        if len(self.delimiter) != 1:
            raise InputError(f"delimiter must be one character, got {self.delimiter!r}")
        if not self.has_header and not self.column_names:
            raise InputError("has_header=False needs column_names")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise InputError(f"unknown encoding {self.encoding!r}") from None
        if self.mixed_numeric not in MIXED_NUMERIC_CHOICES:
            raise InputError(
                f"mixed_numeric must be one of {MIXED_NUMERIC_CHOICES}, got {self.mixed_numeric!r}"
            )


MIXED_NUMERIC_CHOICES = ("error", "missing")
#: Byte order marks and the encodings they announce (UTF-32 before UTF-16: it starts alike).
BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: Field separators a header written with another one is checked for.
COMMON_DELIMITERS = (",", ";", "\t", "|")


def decode_text(data: bytes, uri: str, encoding: str = "utf-8") -> str:
    """Decodes a text file strictly: a byte order mark decides, else ``encoding``.

    Raises:
        InputError: A binary file (NUL bytes without a UTF-16/32 mark), or bytes that are
            not valid in the encoding; the message names the file, line and byte.
    """
    for bom, announced in BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], announced
            break
    else:
        if b"\x00" in data[:8192]:
            raise InputError(
                f"{uri} looks like a binary file, not CSV text (NUL byte at offset {data.index(0)})"
            )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(
            f"{uri} is not valid {encoding}: line {line}, column {column} (byte {e.start}) "
            f"holds 0x{data[e.start]:02x}; give its encoding, e.g. encoding='latin-1' "
            f"(greenkfp run --encoding latin-1)"
        ) from None


def _check_delimiter(header: list[str], uri: str, delimiter: str) -> None:
    """Fails on a one-column header that another common delimiter splits."""
    if len(header) != 1:
        return
    for other in COMMON_DELIMITERS:
        if other != delimiter and other in header[0]:
            fields = len(header[0].split(other))
            raise InputError(
                f"{uri}: the header is one column with delimiter {delimiter!r} but looks "
                f"{other!r}-separated ({fields} fields): set delimiter={other!r} "
                f"(greenkfp run --delimiter {other!r})"
            )


def _to_numeric_where_possible(df: pd.DataFrame, uri: str, mixed_numeric: str) -> pd.DataFrame:
    """Turns columns whose present values are numbers into numeric columns.

    A column numeric in more than half of its present values but not in all is never
    silently read as text: an error names it (``mixed_numeric="error"``), or its text
    cells become missing (``"missing"``).
    """
    out = df.copy()
    for column in out.columns:
        present = out[column].dropna()
        if present.empty:
            continue
        converted = pd.to_numeric(present, errors="coerce")
        text = present[converted.isna()]
        if text.empty:
            out[column] = pd.to_numeric(out[column])
        elif len(text) < len(present) / 2:
            if mixed_numeric == "error":
                examples = sorted(set(text.tolist()))
                raise InputError(
                    f"{uri}: column {column!r} is numeric in {len(present) - len(text)} of "
                    f"{len(present)} rows but holds text in {len(text)}, e.g. "
                    f"{examples[:5]}; fix those cells, add them to missing_values "
                    f"(--missing-values), or set mixed_numeric='missing'"
                )
            out[column] = pd.to_numeric(out[column], errors="coerce")
    return out


def read_csv(uri: str, options: Optional[CsvOptions] = None) -> pd.DataFrame:
    """Reads a CSV file into a DataFrame with numeric columns typed as numbers.

    Args:
        uri: Local path or ``gs://`` URI.
        options: The CSV dialect; defaults to :class:`CsvOptions`.

    Returns:
        The data, missing values as NaN.

    Raises:
        InputError: The file is missing, binary, not valid in its encoding, empty, has
            no data rows, repeats a column name, has a header in another delimiter, rows
            with the wrong number of fields, or a mostly numeric column holding text.
    """
    options = options or CsvOptions()
    text = decode_text(uri_io.read_bytes(uri), uri, options.encoding)
    if not text.strip():
        raise InputError(f"file is empty: {uri}")
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=options.delimiter) if row]
    header = rows.pop(0) if options.has_header else []
    if options.column_names:
        header = list(options.column_names)
    if options.trim_whitespace:
        header = [name.strip() for name in header]
    _check_delimiter(header, uri, options.delimiter)
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
    return _to_numeric_where_possible(df, uri, options.mixed_numeric)


def require_columns(df: pd.DataFrame, required: Sequence[str], source: str) -> None:
    """Raises :class:`InputError` naming every required column that ``df`` lacks."""
    absent = [c for c in dict.fromkeys(required) if c and c not in df.columns]
    if absent:
        raise InputError(
            f"{source} lacks required column(s) {absent}; its columns are {list(df.columns)}"
        )


def check_eval_fraction(eval_fraction: float) -> None:
    """Raises :class:`InputError` unless the eval share is strictly between 0 and 1."""
    if not 0.0 < eval_fraction < 1.0:
        raise InputError(f"eval_fraction must be in (0, 1), got {eval_fraction}")


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
    check_eval_fraction(eval_fraction)
    groups = [g for _, g in df.groupby(stratify_column, dropna=False)] if stratify_column else [df]
    eval_parts = [g.sample(frac=eval_fraction, random_state=seed) for g in groups]
    eval_index = pd.Index([]).append([p.index for p in eval_parts])
    eval_df = df.loc[sorted(eval_index)]
    train_df = df.drop(eval_index)
    if train_df.empty or eval_df.empty:
        raise InputError(f"{len(df)} rows are too few to split with eval_fraction={eval_fraction}")
    return train_df.reset_index(drop=True), eval_df.reset_index(drop=True)
