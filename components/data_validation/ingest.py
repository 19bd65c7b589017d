"""CSV ingestion: read a user's CSV with its dialect, check it, split it, write canonical CSV.

Every later step reads the canonical form (comma, header, empty cell = missing), so
CSV options are given once, here, as TFX's CsvExampleGen takes them.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

import numpy as np
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
#: Rows held in memory at a time while a CSV file is read.
CHUNK_ROWS = 50_000
#: Bytes read from the file at a time.
BLOCK_BYTES = 1 << 20
#: Field separators a header written with another one is checked for.
COMMON_DELIMITERS = (",", ";", "\t", "|")


class _Source:
    """One pass over a CSV file's text, hashing its bytes as they are read.

    Attributes:
        uri: The file.
        encoding: Its encoding; a byte order mark replaces it.
        digest: SHA-256 of the bytes read so far (the whole file once read through).
        has_text: Whether anything but white space was read.
    """

    def __init__(self, uri: str, encoding: str) -> None:
        self.uri, self.encoding = uri, encoding
        self.digest = hashlib.sha256()
        self.has_text = False

    def blocks(self) -> Iterator[bytes]:
        """The file's bytes, a block at a time."""
        if not uri_io.exists(self.uri):
            raise InputError(f"file not found: {self.uri}")
        with uri_io.open_uri(self.uri, "rb") as f:
            yield from iter(lambda: f.read(BLOCK_BYTES), b"")

    def text_blocks(self, blocks: Iterator[bytes]) -> Iterator[str]:
        """Decodes ``blocks`` strictly, naming the line and byte of an invalid one."""
        first = next(blocks, b"")
        self.digest.update(first)
        skip = 0
        for bom, announced in BOMS:
            if first.startswith(bom):
                skip, self.encoding = len(bom), announced
                break
        else:
            if b"\x00" in first[:8192]:
                raise InputError(
                    f"{self.uri} looks like a binary file, not CSV text "
                    f"(NUL byte at offset {first.index(0)})"
                )
        decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        # Offsets count from the end of the byte order mark, as people count a file's text.
        fed, newlines, last_newline = 0, 0, -1
        block = first[skip:]
        while True:
            final = not block
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(block, final=final)
            except UnicodeDecodeError as e:
                window_start = fed - len(pending)
                raise self._decode_error(
                    pending + block, window_start, len(pending), e.start, newlines, last_newline
                ) from None
            if not self.has_text and text.strip():
                self.has_text = True
            if text:
                yield text
            if final:
                return
            fed += len(block)
            newlines += block.count(b"\n")
            if (at := block.rfind(b"\n")) >= 0:
                last_newline = fed - len(block) + at
            block = next(blocks, b"")
            self.digest.update(block)

    def _decode_error(
        self,
        window: bytes,
        window_start: int,
        pending: int,
        start: int,
        newlines: int,
        last_newline: int,
    ) -> InputError:
        """The error for an invalid byte at ``window[start]``.

        ``window`` is the decoder's held-back bytes (``pending`` of them, already counted
        in ``newlines`` and ``last_newline``) and the block; ``window_start`` its offset.
        """
        position = window_start + start
        counted_from = min(pending, start)
        new_part = window[counted_from:start]
        line = newlines + new_part.count(b"\n") + 1
        inside = new_part.rfind(b"\n")
        line_start = window_start + counted_from + inside if inside >= 0 else last_newline
        return InputError(
            f"{self.uri} is not valid {self.encoding}: line {line}, column "
            f"{position - line_start} (byte {position}) holds 0x{window[start]:02x}; give its "
            f"encoding, e.g. encoding='latin-1' (greenkfp run --encoding latin-1)"
        )

    def lines(self) -> Iterator[str]:
        """The file's decoded lines, each with its newline."""
        rest = ""
        for text in self.text_blocks(self.blocks()):
            parts = (rest + text).split("\n")
            rest = parts.pop()
            for part in parts:
                yield part + "\n"
        if rest:
            yield rest


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


@dataclass
class _ColumnScan:
    """What a first pass learnt of one column, enough to type it in the second."""

    present: int = 0
    text: int = 0
    missing: bool = False
    fractional: bool = False
    text_examples: list[str] = field(default_factory=list)

    def add(self, values: pd.Series) -> None:
        present = values.dropna()
        self.missing = self.missing or len(present) < len(values)
        if present.empty:
            return
        converted = pd.to_numeric(present, errors="coerce")
        text = present[converted.isna()]
        self.present += len(present)
        self.text += len(text)
        numbers = converted.dropna()
        self.fractional = self.fractional or numbers.dtype.kind == "f"
        if not text.empty:
            self.text_examples = sorted({*self.text_examples, *text.tolist()})[:5]

    def numeric_dtype(self, uri: str, name: str, mixed_numeric: str) -> Optional[str]:
        """The column's numeric dtype, or None for a text (or empty) column.

        A column numeric in more than half of its present values but not in all is never
        silently read as text: an error names it (``mixed_numeric="error"``), or its text
        cells become missing (``"missing"``).
        """
        if self.present == 0 or self.text >= self.present / 2:
            return None
        if self.text and mixed_numeric == "error":
            raise InputError(
                f"{uri}: column {name!r} is numeric in {self.present - self.text} of "
                f"{self.present} rows but holds text in {self.text}, e.g. "
                f"{self.text_examples}; fix those cells, add them to missing_values "
                f"(--missing-values), or set mixed_numeric='missing'"
            )
        return "float64" if self.missing or self.text or self.fractional else "int64"


class CsvScan:
    """A CSV file read once in chunks: its header, rows, SHA-256 and column types.

    Only one chunk of rows (:data:`CHUNK_ROWS`) is held at a time, so a file larger than
    memory can be checked, typed and rewritten (:meth:`chunks` reads it again).

    Attributes:
        uri: The file.
        options: Its dialect.
        columns: The column names.
        rows: The number of data rows.
        sha256: The file's SHA-256 hex digest.
        dtypes: Numeric columns and their dtype (``int64`` or ``float64``).
        value_counts: Rows per value of the column ``count_values_of`` names, typed as
            :meth:`chunks` types it (missing as ``None``); empty without one.
    """

    def __init__(
        self, uri: str, options: Optional[CsvOptions] = None, count_values_of: str = ""
    ) -> None:
        self.uri, self.options = uri, options or CsvOptions()
        self.columns: list[str] = []
        self.rows = 0
        scans: dict[str, _ColumnScan] = {}
        raw_counts: dict[Any, int] = {}
        source = _Source(uri, self.options.encoding)
        for chunk in self._string_chunks(source):
            for column in chunk.columns:
                scans.setdefault(column, _ColumnScan()).add(chunk[column])
            if count_values_of in chunk.columns:
                for value, count in chunk[count_values_of].value_counts(dropna=False).items():
                    key = None if pd.isna(value) else value
                    raw_counts[key] = raw_counts.get(key, 0) + int(count)
            self.rows += len(chunk)
        self.sha256 = source.digest.hexdigest()
        self.dtypes = {
            name: dtype
            for name, scan in scans.items()
            if (dtype := scan.numeric_dtype(uri, name, self.options.mixed_numeric))
        }
        self.value_counts = self._typed_counts(count_values_of, raw_counts)

    def _typed_counts(self, column: str, raw_counts: dict[Any, int]) -> dict[Any, int]:
        """Counts per value as :meth:`chunks` types them ("1" and "1.0" are one number)."""
        if column not in self.dtypes:
            return raw_counts
        raw = pd.Series(list(raw_counts), dtype=object)
        typed = pd.to_numeric(raw, errors="coerce").astype(self.dtypes[column])
        counts: dict[Any, int] = {}
        for key, value in zip(typed.tolist(), raw_counts.values()):
            key = None if pd.isna(key) else key
            counts[key] = counts.get(key, 0) + value
        return counts

    def _string_chunks(self, source: _Source) -> Iterator[pd.DataFrame]:
        """The rows as text (trimmed, missing values as NaN), :data:`CHUNK_ROWS` at a time."""
        options = self.options
        missing = list(
            uri_io.DEFAULT_MISSING_VALUES
            if options.missing_values is None
            else options.missing_values
        )
        header = None if options.has_header else self._check_header([])
        rows: list[list[str]] = []
        data_rows = 0
        for row in csv.reader(source.lines(), delimiter=options.delimiter):
            if not row:
                continue
            if header is None:
                if source.has_text:  # else white space only so far: an empty file
                    header = self._check_header(row)
                continue
            if len(row) != len(header):
                line_number = data_rows + (2 if options.has_header else 1)
                raise InputError(
                    f"malformed CSV {self.uri}: line {line_number} has {len(row)} fields, "
                    f"the header has {len(header)}"
                )
            data_rows += 1
            rows.append(row)
            if len(rows) >= CHUNK_ROWS:
                yield self._frame(rows, header, missing)
                rows = []
        if not source.has_text or header is None:
            raise InputError(f"file is empty: {self.uri}")
        if not data_rows:
            raise InputError(f"{self.uri} has a header but no data rows")
        if rows:
            yield self._frame(rows, header, missing)

    def _check_header(self, header: list[str]) -> list[str]:
        if self.options.column_names:
            header = list(self.options.column_names)
        if self.options.trim_whitespace:
            header = [name.strip() for name in header]
        _check_delimiter(header, self.uri, self.options.delimiter)
        duplicates = sorted({c for c in header if header.count(c) > 1})
        if duplicates or "" in header:
            raise InputError(f"{self.uri}: duplicate or empty column names in header {header}")
        self.columns = header
        return header

    def _frame(self, rows: list[list[str]], header: list[str], missing: list[str]) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=header, dtype=str)
        if self.options.trim_whitespace:
            df = df.apply(lambda s: s.str.strip())
        return df.mask(df.isin(missing))

    def _typed(self, chunk: pd.DataFrame) -> pd.DataFrame:
        for column, dtype in self.dtypes.items():
            chunk[column] = pd.to_numeric(chunk[column], errors="coerce").astype(dtype)
        return chunk

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Reads the file again: its rows typed, :data:`CHUNK_ROWS` at a time."""
        source = _Source(self.uri, self.options.encoding)
        for chunk in self._string_chunks(source):
            yield self._typed(chunk)
        if source.digest.hexdigest() != self.sha256:
            raise InputError(f"{self.uri} changed while it was read")


def read_csv(uri: str, options: Optional[CsvOptions] = None) -> pd.DataFrame:
    """Reads a whole CSV file into a DataFrame with numeric columns typed as numbers.

    For files that fit in memory (previews, checks); the import step streams through
    :class:`CsvScan` instead.

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
    scan = CsvScan(uri, options)
    return pd.concat(list(scan.chunks()), ignore_index=True)


def require_columns(df: pd.DataFrame, required: Sequence[str], source: str) -> None:
    """Raises :class:`InputError` naming every required column that ``df`` lacks."""
    require_columns_of(list(df.columns), required, source)


def require_columns_of(columns: Sequence[str], required: Sequence[str], source: str) -> None:
    """Raises :class:`InputError` naming every required column not in ``columns``."""
    absent = [c for c in dict.fromkeys(required) if c and c not in columns]
    if absent:
        raise InputError(
            f"{source} lacks required column(s) {absent}; its columns are {list(columns)}"
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


def eval_positions(
    value_counts: dict[Any, int], eval_fraction: float, seed: int
) -> dict[Any, np.ndarray]:
    """Which rows of each class go to eval: the rows :func:`split_train_eval` picks.

    Each class samples with a fresh generator seeded ``seed``, so the positions depend
    only on the class's size; one byte per row is held.

    Args:
        value_counts: Rows per class, in file order within each (one class for no
            stratification).
        eval_fraction: Share of rows for eval, in (0, 1).
        seed: Random seed.

    Returns:
        Per class, a boolean mask over its rows in file order: True for eval.
    """
    check_eval_fraction(eval_fraction)
    masks = {}
    for key, count in value_counts.items():
        picked = pd.Series(np.zeros(count, dtype=np.int8)).sample(
            frac=eval_fraction, random_state=seed
        )
        mask = np.zeros(count, dtype=bool)
        mask[picked.index.to_numpy()] = True
        masks[key] = mask
    eval_rows = sum(int(m.sum()) for m in masks.values())
    rows = sum(value_counts.values())
    if eval_rows == 0 or eval_rows == rows:
        raise InputError(f"{rows} rows are too few to split with eval_fraction={eval_fraction}")
    return masks


def split_chunks(
    chunks: Iterator[pd.DataFrame], masks: dict[Any, np.ndarray], stratify_column: str = ""
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Splits chunks of rows into (train, eval) parts by :func:`eval_positions`' masks."""
    seen = dict.fromkeys(masks, 0)
    for chunk in chunks:
        keys = chunk[stratify_column] if stratify_column else np.zeros(len(chunk))
        codes, classes = pd.factorize(keys, use_na_sentinel=False)
        to_eval = np.zeros(len(chunk), dtype=bool)
        for code, value in enumerate(classes):
            key = None if not stratify_column or pd.isna(value) else value
            where = np.flatnonzero(codes == code)
            start = seen[key]
            to_eval[where] = masks[key][start : start + len(where)]
            seen[key] = start + len(where)
        yield chunk[~to_eval], chunk[to_eval]
