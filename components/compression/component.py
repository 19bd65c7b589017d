"""KFP component for model compression. A thin wrapper: the logic lives beside it."""

from typing import List, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from greenkfp.components._shared.image import component_image

IMAGE = component_image()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def compress_model(
    model: Input[Model],
    train_dataset: Input[Dataset],
    eval_dataset: Input[Dataset],
    compressed_model: Output[Model],
    metrics: Output[Metrics],
    report: Output[HTML],
    methods: Optional[List[str]] = None,
    sparsity: float = 0.5,
    pruning_schedule: str = "polynomial",
    fine_tune_epochs: int = 4,
    max_accuracy_drop: float = 0.01,
    max_auc_drop: float = 0.01,
    representative_samples: int = 200,
    latency_runs: int = 300,
    threads: int = 1,
    seed: int = 42,
    country_iso_code: str = "",
    region: str = "",
    objective: str = "energy",
    serving_batch_size: int = 64,
    noise_margin: float = 0.1,
    decision: Optional[Input[Artifact]] = None,
    max_fine_tune_rows: int = 50000,
):
    """Prunes and quantizes a trained model to TFLite, and measures both models.

    Preprocessing stays exact in a float32 TFLite stage; the network after it is
    compressed. Both models are measured alike from raw rows: size, gzipped size,
    accuracy, AUC, latency and inference energy at batch 1 and at a serving batch.

    Args:
        model: A train_model output (keras_model.keras and model_metadata.json).
        train_dataset: Training data: fine-tuning and int8 calibration rows.
        eval_dataset: Evaluation data: quality, latency and energy rows.
        compressed_model: preprocess.tflite, model.tflite, compressed_model.json, and a
            SavedModel (saved_model/) when pruning or QAT ran.
        metrics: base_/compressed_ bytes, gzip_bytes, accuracy, auc, latency_p50_ms,
            latency_p95_ms, inference_energy_kwh_per_1k; size_ratio, gzip_size_ratio,
            accuracy_drop, accuracy_drop_upper, auc_drop, latency_speedup_p50,
            inference_energy_ratio (ratios are base / compressed), the same at the
            serving batch (batch_ prefix), within_budget, fallback, sparsity, and this
            step's energy figures.
        report: Side-by-side figures; every candidate's accuracy against size, latency
            and energy, the kept one marked.
        methods: In order, from prune, qat, then one of dynamic, int8, float16; or auto
            (the default): of float32, dynamic, int8, float16 and sparsity 0.5/0.7/0.8 x
            int8/dynamic, the smallest of the best on objective among those within
            budget that beat the base beyond noise_margin; else the float32 model
            (fallback=1). A candidate is within budget when its accuracy drop's exact 95%
            upper bound (paired, per row) is at most max_accuracy_drop and its AUC drop at
            most max_auc_drop.
        sparsity: Pruning target, in [0, 1).
        pruning_schedule: polynomial or constant.
        fine_tune_epochs: Epochs of fine-tuning for pruning and QAT.
        max_accuracy_drop: Largest accuracy loss auto accepts (a fraction: 0.01 = 1 point),
            compared with the drop's upper bound.
        max_auc_drop: Largest AUC loss auto accepts.
        representative_samples: Train rows calibrating int8.
        latency_runs: Timed calls per model, at batch 1 and at the serving batch.
        threads: TFLite interpreter threads for latency and energy.
        seed: Random seed.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
        objective: What auto minimises: energy (per 1,000 predictions), size (gzipped)
            or latency (p50).
        serving_batch_size: Rows per call of the serving batch, measured besides batch 1.
        noise_margin: Relative run-to-run noise of latency and energy readings (0.1 =
            10 %): auto ships a candidate only when it is no worse than the base beyond it
            and better beyond it on one figure; candidates within it of the best tie, and
            the smallest ships.
        decision: decide_retraining's decision; when it says not to retrain, the step
            writes "skipped" outputs and returns at once. Not given: the step runs.
        max_fine_tune_rows: Most training rows pruning and QAT fine-tune on: a seeded
            sample of them on larger data, so the step's time stays bounded (quality
            figures use every eval row; latency and energy a seeded 2,000 of them).
    """
    from greenkfp.components._shared.skipping import finish_skipped

    if finish_skipped(decision, metrics, [compressed_model, report], country_iso_code, region):
        return
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.compression import task
    from greenkfp.components.compression.config import CompressionConfig
    from greenkfp.components.compression.report import render_compress_model

    config = CompressionConfig.from_inputs(
        dict(
            methods=methods,
            sparsity=sparsity,
            pruning_schedule=pruning_schedule,
            fine_tune_epochs=fine_tune_epochs,
            max_accuracy_drop=max_accuracy_drop,
            max_auc_drop=max_auc_drop,
            representative_samples=representative_samples,
            latency_runs=latency_runs,
            threads=threads,
            seed=seed,
            objective=objective,
            serving_batch_size=serving_batch_size,
            noise_margin=noise_margin,
            max_fine_tune_rows=max_fine_tune_rows,
        )
    )
    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = task.run_compress_model(
            model_dir=model.path,
            train_path=train_dataset.path,
            eval_path=eval_dataset.path,
            output_dir=compressed_model.path,
            config=config,
            country_iso_code=country_iso_code,
            region=region,
        )
    with open(report.path, "w", encoding="utf-8") as f:
        f.write(render_compress_model(outcome, energy.to_dict()))
    publish(metrics, energy, compressed_model, outcome.figures, outcome.metadata)
