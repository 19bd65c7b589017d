"""The model artifact contract: the files a trained or compressed model folder holds.

Training writes these names, compression, fairness and deployment read them. They live
here, not in any one family, so that no family imports another (DESIGN.md, principle 11).
"""

SAVED_MODEL_DIRNAME = "saved_model"
"""SavedModel folder inside a trained model (serving signature on raw features)."""

SAVED_MODEL_PB = "saved_model.pb"
"""The graph file that marks a folder as a SavedModel."""

KERAS_FILENAME = "keras_model.keras"
"""The tf_keras model beside the SavedModel, for fine-tuning and compression."""

METADATA_FILENAME = "model_metadata.json"
"""Label, positive class, feature lists and facts of a trained model."""

SERVING_SIGNATURE = "serving_default"
SCORES_OUTPUT = "scores"

FEATURES_LAYER = "features"
"""Name of the layer where preprocessing ends and the compressible core begins."""

PREPROCESS_TFLITE = "preprocess.tflite"
"""Exact float32 TFLite stage: raw feature values to the encoded feature vector."""

CORE_TFLITE = "model.tflite"
"""The compressed core network as TFLite: encoded features to the score."""

COMPRESSED_MANIFEST = "compressed_model.json"
"""Manifest of a compressed model folder: its stages, method and metadata."""
