"""What a prediction task asks of a model's last layer and of its training loss.

Training builds the output layer and compiles with the task's loss; compression fine-tunes
the compressed core with the same loss. Only ``binary`` is implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.tf_setup import import_tf_keras


@dataclass(frozen=True)
class TaskHead:
    """What a task needs from the model's last layer and from training.

    Attributes:
        task: The task name (``"binary"``; ``"multiclass"`` and ``"regression"`` later).
        output_units: Units of the output layer.
        activation: Activation of the output layer.
        make_loss: Builds the Keras loss.
        make_metrics: Builds the Keras metrics (named as they appear in the history).
    """

    task: str
    output_units: int
    activation: str
    make_loss: Callable[[], Any]
    make_metrics: Callable[[], list]


SUPPORTED_TASKS = ("binary",)


def task_head(task: str = "binary") -> TaskHead:
    """Returns the output head of a task.

    Args:
        task: ``"binary"`` (a sigmoid score, the probability of the positive label).

    Raises:
        InputError: For a task not implemented yet.
    """
    if task == "binary":
        tf_keras = import_tf_keras()
        return TaskHead(
            task="binary",
            output_units=1,
            activation="sigmoid",
            make_loss=lambda: tf_keras.losses.BinaryCrossentropy(),
            make_metrics=lambda: [
                tf_keras.metrics.AUC(name="auc"),
                tf_keras.metrics.BinaryAccuracy(name="accuracy"),
            ],
        )
    raise InputError(f"task {task!r} is not implemented; supported tasks: {list(SUPPORTED_TASKS)}")
