"""The model contract in components/_shared: inputs from raw rows, labels, metrics, files.

The parts that need a trained model are tested where one is trained (test_training.py,
test_compression.py); these need none.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared.binary_metrics import roc_auc
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.labels import encode_label
from greenkfp.components._shared.model_artifact import (
    COMPRESSED_MANIFEST,
    SAVED_MODEL_DIRNAME,
    SAVED_MODEL_PB,
    is_compressed,
    load_metadata,
    read_manifest,
    saved_model_dir,
    write_manifest,
    write_metadata,
)
from greenkfp.components._shared.model_inputs import input_name, to_category_strings

# ----------------------------------------------------------------------------- inputs


def test_input_name():
    assert input_name("credit_amount") == "credit_amount"
    assert input_name("capital-gain") == "capital_gain"
    assert input_name("saving accounts") == "saving_accounts"
    assert input_name("1st") == "f_1st"


def test_category_strings():
    got = to_category_strings(pd.Series([2, 2.0, None, float("nan"), " a ", True]))
    assert got.tolist() == ["2", "2", "", "", "a", "True"]
    # Typed columns convert each distinct value once; the strings are the same per row.
    assert to_category_strings(pd.Series([1.0, 2.5, np.nan, 1.0])).tolist() == ["1", "2.5", "", "1"]
    assert to_category_strings(pd.Series([" b", "a", None, "b "])).tolist() == ["b", "a", "", "b"]
    assert to_category_strings(pd.Series([3, 1, 3])).tolist() == ["3", "1", "3"]
    # Mixed types stay per value: True, 1 and 1.0 are equal in Python but not as categories.
    assert to_category_strings(pd.Series([True, 1, 1.0])).tolist() == ["True", "1", "1"]


# ----------------------------------------------------------------------------- labels, metrics


@pytest.mark.parametrize(
    "values, positive, expected",
    [
        ([1, 0, 1], 1, [1, 0, 1]),
        ([1, 0, 1], "1", [1, 0, 1]),
        ([1.0, 0.0, 1.0], "1", [1, 0, 1]),
        (["yes", "no ", " no"], "yes", [1, 0, 0]),
        ([">50K", "<=50K", ">50K"], " >50K", [1, 0, 1]),
    ],
)
def test_encode_label(values, positive, expected):
    got = encode_label(pd.Series(values, name="y"), positive)
    assert got.tolist() == expected


def test_encode_label_errors():
    with pytest.raises(ValueError, match=r"'maybe'.*'y'.*\['no', 'yes'\]"):
        encode_label(pd.Series(["yes", "no"], name="y"), "maybe")
    with pytest.raises(ValueError, match="exactly 2.*'a', 'b', 'c'"):
        encode_label(pd.Series(["a", "b", "c"], name="y"), "a")
    with pytest.raises(ValueError, match="missing"):
        encode_label(pd.Series(["a", None, "b"], name="y"), "a")
    # An eval split may hold one class only, but nothing outside the training classes.
    only_neg = encode_label(pd.Series(["no", "no"], name="y"), "yes", negative_label="no")
    assert only_neg.tolist() == [0, 0]
    with pytest.raises(ValueError, match="'maybe'"):
        encode_label(pd.Series(["no", "maybe"], name="y"), "yes", negative_label="no")


def test_roc_auc_matches_pairwise_count():
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 2, 200)
    scores = np.round(rng.rand(200), 1)  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert roc_auc(labels, scores) == pytest.approx(pairs / (len(pos) * len(neg)))
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


# ----------------------------------------------------------------------------- files


def test_metadata_round_trip(tmp_path):
    meta = {"label_column": "risk", "positive_label": "1", "negative_label": "0"}
    path = write_metadata(str(tmp_path), meta)
    assert os.path.basename(path) == "model_metadata.json"
    assert load_metadata(str(tmp_path)) == meta
    with pytest.raises(InputError, match="no model metadata at .*nowhere"):
        load_metadata(str(tmp_path / "nowhere"))


def test_manifest_round_trip_and_errors(tmp_path):
    assert not is_compressed(str(tmp_path))
    manifest = {"preprocess": "preprocess.tflite", "model": "model.tflite", "inputs": {"a": "x"}}
    write_manifest(str(tmp_path), manifest)
    assert is_compressed(str(tmp_path))
    assert read_manifest(str(tmp_path)) == manifest
    (tmp_path / COMPRESSED_MANIFEST).write_text(json.dumps({"model": "model.tflite"}))
    with pytest.raises(InputError, match=r"lacks \['preprocess', 'inputs'\]"):
        read_manifest(str(tmp_path))
    (tmp_path / COMPRESSED_MANIFEST).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_manifest(str(tmp_path))
    with pytest.raises(InputError, match=f"no {COMPRESSED_MANIFEST} in"):
        read_manifest(str(tmp_path / "nowhere"))


def test_saved_model_dir_finds_both_layouts(tmp_path):
    nested = tmp_path / "trained" / SAVED_MODEL_DIRNAME
    nested.mkdir(parents=True)
    assert saved_model_dir(str(tmp_path / "trained")) == str(nested)
    (tmp_path / "version").mkdir()
    (tmp_path / "version" / SAVED_MODEL_PB).write_bytes(b"")
    assert saved_model_dir(str(tmp_path / "version")) == str(tmp_path / "version")
    with pytest.raises(InputError, match="not a model written by train_model or compress_model"):
        saved_model_dir(str(tmp_path))


# ----------------------------------------------------------------------------- TF set-up


def test_no_module_sets_the_environment_or_imports_tensorflow_on_import():
    """Importing every components module leaves TF_USE_LEGACY_KERAS to the logic to set."""
    probe = textwrap.dedent(
        """
        import os, pkgutil, importlib, sys
        import greenkfp.components as components
        for info in pkgutil.walk_packages(components.__path__, "greenkfp.components."):
            importlib.import_module(info.name)
        print(os.environ.get("TF_USE_LEGACY_KERAS"), "tensorflow" in sys.modules)
        from greenkfp.components._shared.tf_setup import ensure_legacy_keras
        ensure_legacy_keras()
        print(os.environ.get("TF_USE_LEGACY_KERAS"))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "None False"
    assert out[1] == "1"
