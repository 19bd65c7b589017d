import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components.data_validation.ingest import (
    CsvOptions,
    read_csv,
    split_train_eval,
)
from greenkfp.components.data_validation.task import run_import_csv


def test_reads_dialect_trims_and_marks_missing(write_csv):
    path = write_csv("age; job ;label\n 31 ; clerk ;yes\n?; NA ; no\n45;;yes\n")
    df = read_csv(path, CsvOptions(delimiter=";"))
    assert list(df.columns) == ["age", "job", "label"]
    assert df["age"].dtype.kind == "f"  # numeric, with a gap
    assert df["age"].tolist()[0] == 31 and np.isnan(df["age"].tolist()[1])
    assert df["job"].tolist()[0] == "clerk"
    assert df["job"].isna().tolist() == [False, True, True]


def test_custom_missing_values_keep_question_mark(write_csv):
    path = write_csv("a,b\n1,?\n2,x\n")
    df = read_csv(path, CsvOptions(missing_values=["NA"]))
    assert df["b"].tolist() == ["?", "x"]


def test_headerless_file_uses_given_names(write_csv):
    path = write_csv("1,yes\n2,no\n")
    df = read_csv(path, CsvOptions(has_header=False, column_names=["n", "label"]))
    assert list(df.columns) == ["n", "label"] and len(df) == 2
    with pytest.raises(InputError, match="column_names"):
        CsvOptions(has_header=False)


def test_mostly_text_column_stays_text(write_csv):
    path = write_csv("code\n10\nabc\nxyz\n")
    assert read_csv(path)["code"].dtype == object


def test_mostly_numeric_column_with_text_is_an_error_naming_column_and_values(write_csv):
    rows = "".join(f"{v}\n" for v in [*range(1, 20), "abc", "n.a."])
    path = write_csv("credit_amount\n" + rows)
    with pytest.raises(InputError) as e:
        read_csv(path)
    message = str(e.value)
    assert "'credit_amount'" in message and "'abc'" in message and "'n.a.'" in message
    assert "missing_values" in message and path in message


def test_mixed_numeric_missing_reads_text_cells_as_missing(write_csv):
    path = write_csv("credit_amount\n10\nabc\n30\n")
    df = read_csv(path, CsvOptions(mixed_numeric="missing"))
    assert df["credit_amount"].dtype.kind == "f"
    assert df["credit_amount"].isna().tolist() == [False, True, False]
    with pytest.raises(InputError, match="mixed_numeric"):
        CsvOptions(mixed_numeric="coerce")


def test_latin1_file_is_an_error_naming_file_line_and_byte(write_csv, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,label\ntv,1\nt\u00e9l\u00e9vision,0\n".encode("latin-1"))
    with pytest.raises(InputError) as e:
        read_csv(str(path))
    message = str(e.value)
    assert str(path) in message and "line 3" in message and "byte 17" in message
    assert "0xe9" in message and "encoding" in message
    df = read_csv(str(path), CsvOptions(encoding="latin-1"))
    assert df["name"].tolist() == ["tv", "t\u00e9l\u00e9vision"]


@pytest.mark.parametrize("bom, codec", [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le")])
def test_byte_order_mark_decides_the_encoding(tmp_path, bom, codec):
    path = tmp_path / "bom.csv"
    path.write_bytes(bom + "name,label\nt\u00e9l\u00e9,1\nx,0\n".encode(codec))
    df = read_csv(str(path))
    assert list(df.columns) == ["name", "label"]
    assert df["name"].tolist() == ["t\u00e9l\u00e9", "x"]


def test_unknown_encoding_is_named():
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        CsvOptions(encoding="klingon")


def test_binary_file_is_named(tmp_path):
    path = tmp_path / "model.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(InputError) as e:
        read_csv(str(path))
    assert str(path) in str(e.value) and "binary" in str(e.value)


def test_header_in_another_delimiter_names_it(write_csv):
    path = write_csv("age;job;risk\n31;2;1\n45;1;0\n")
    with pytest.raises(InputError) as e:
        read_csv(path)
    message = str(e.value)
    assert "';'" in message and "delimiter" in message and path in message
    assert read_csv(path, CsvOptions(delimiter=";"))["risk"].tolist() == [1, 0]


def test_one_column_file_without_other_delimiters_is_fine(write_csv):
    assert read_csv(write_csv("label\n1\n0\n"))["label"].tolist() == [1, 0]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "file is empty"),
        ("   \n\n", "file is empty"),
        ("a,b,c\n", "no data rows"),
        ("a,a\n1,2\n", "duplicate"),
        ("a,b\n1,2,3,4\n5,6\n", "malformed CSV"),
    ],
)
def test_bad_files_name_the_problem(write_csv, content, message):
    path = write_csv(content)
    with pytest.raises(InputError, match=message) as e:
        read_csv(path)
    assert path in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found: .*nope.csv"):
        read_csv(str(tmp_path / "nope.csv"))


def test_split_is_seeded_and_stratified(german_credit):
    train_a, eval_a = split_train_eval(german_credit, 0.2, seed=7, stratify_column="risk")
    train_b, eval_b = split_train_eval(german_credit, 0.2, seed=7, stratify_column="risk")
    pd.testing.assert_frame_equal(eval_a, eval_b)
    assert len(train_a) + len(eval_a) == len(german_credit) == 1000
    assert len(eval_a) == 200
    assert eval_a["risk"].mean() == pytest.approx(german_credit["risk"].mean())
    _, eval_c = split_train_eval(german_credit, 0.2, seed=8, stratify_column="risk")
    assert not eval_a.equals(eval_c)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_fraction_out_of_range(german_credit, fraction):
    with pytest.raises(InputError, match="eval_fraction"):
        split_train_eval(german_credit, fraction, seed=1)


def test_import_csv_writes_canonical_datasets(tmp_path, write_csv):
    source = write_csv("x, label ,city\n1,yes,?\n2,no,Paris\n3,yes,Oslo\n4,no,Rome\n5,yes, Oslo\n")
    train, evaluation = str(tmp_path / "train"), str(tmp_path / "eval")
    result = run_import_csv(
        data_uri=source,
        train_path=train,
        eval_path=evaluation,
        label_column="label",
        eval_fraction=0.4,
    )
    assert result.train_rows + result.eval_rows == 5 and result.eval_rows == 2
    assert result.metadata["source_sha256"] == uri_io.sha256_of(source)
    both = pd.concat([uri_io.read_dataset(train), uri_io.read_dataset(evaluation)])
    assert sorted(both["x"]) == [1, 2, 3, 4, 5]
    assert both["city"].isna().sum() == 1
    assert set(both["city"].dropna()) == {"Paris", "Oslo", "Rome"}


def test_import_csv_requires_label_and_columns_of_eval(tmp_path, write_csv):
    train_csv = write_csv("a,label\n1,0\n2,1\n", "train.csv")
    paths = {
        "data_uri": train_csv,
        "train_path": str(tmp_path / "t"),
        "eval_path": str(tmp_path / "e"),
    }
    with pytest.raises(InputError, match=r"lacks required column\(s\) \['target'\]"):
        run_import_csv(**paths, label_column="target")
    eval_csv = write_csv("a\n1\n", "eval.csv")
    with pytest.raises(InputError, match=r"eval.csv lacks required column\(s\) \['label'\]"):
        run_import_csv(**paths, eval_data_uri=eval_csv)


class _Interrupted(Exception):
    pass


def test_local_writes_are_all_or_nothing(tmp_path, monkeypatch):
    """A step stopped mid-write (SIGTERM, a full disk) leaves the old file or none."""
    target = tmp_path / "out" / "model.bin"
    uri_io.write_bytes(str(target), b"old")
    rows = pd.DataFrame({"a": range(1000)})

    def stop(*args):
        raise _Interrupted

    monkeypatch.setattr(uri_io.os, "fsync", stop)
    with pytest.raises(_Interrupted):
        uri_io.write_bytes(str(target), b"new" * 1000)
    assert target.read_bytes() == b"old"
    with pytest.raises(_Interrupted):
        uri_io.write_dataset(rows, str(tmp_path / "out" / "train"))
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]
    monkeypatch.undo()
    uri_io.write_dataset(rows, str(tmp_path / "out" / "train"))
    assert uri_io.read_dataset(str(tmp_path / "out" / "train"))["a"].tolist() == list(range(1000))


def test_import_of_a_csv_larger_than_its_memory_limit(tmp_path, monkeypatch):
    """The import holds a chunk of rows at a time, never the file: peak memory stays under
    a limit a third of the file's size, and the split is the one the whole-file split makes."""
    import tracemalloc

    from greenkfp.components.data_validation import ingest

    rng = np.random.default_rng(0)
    rows = 20_000
    # Long text cells make a file of megabytes from few rows: tracemalloc slows each row.
    notes = ["x" + "".join(rng.choice(list("abcd, efgh"), 400)) + "x" for _ in range(50)]
    frame = pd.DataFrame(
        {
            "amount": rng.integers(100, 20_000, rows),
            "rate": rng.normal(size=rows).round(6),
            "notes": rng.choice(notes, rows),
            "label": rng.choice(["good", "bad"], rows, p=[0.7, 0.3]),
        }
    )
    source = tmp_path / "big.csv"
    frame.to_csv(source, index=False)
    limit = source.stat().st_size // 3
    monkeypatch.setattr(ingest, "CHUNK_ROWS", 1_000)
    monkeypatch.setattr(ingest, "BLOCK_BYTES", 1 << 16)
    train, evaluation = str(tmp_path / "train"), str(tmp_path / "eval")
    small = str(tmp_path / "small.csv")
    frame.head(50).to_csv(small, index=False)  # lazy imports and caches, before measuring
    run_import_csv(data_uri=small, train_path=train, eval_path=evaluation, label_column="label")
    tracemalloc.start()
    try:
        result = run_import_csv(
            data_uri=str(source), train_path=train, eval_path=evaluation, label_column="label"
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak {peak:,} bytes for a {source.stat().st_size:,}-byte file"
    assert result.metadata["source_sha256"] == uri_io.sha256_of(str(source))
    expected_train, expected_eval = split_train_eval(frame, 0.2, seed=42, stratify_column="label")
    pd.testing.assert_frame_equal(uri_io.read_dataset(evaluation), expected_eval)
    pd.testing.assert_frame_equal(uri_io.read_dataset(train), expected_train)
