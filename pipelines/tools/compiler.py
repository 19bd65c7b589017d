"""Compiles every pipeline and component to YAML, with the component image chosen here."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Optional

from greenkfp.components._shared.image import component_image


def compile_to_file(func: Any, path: Path, image: Optional[str] = None) -> Path:
    """Compiles a pipeline or component to ``path``, using ``image`` for every task.

    Args:
        func: A ``@dsl.pipeline`` or ``@dsl.component`` object.
        path: Where to write the YAML.
        image: Component image; default is :func:`component_image`.

    Returns:
        The path written.
    """
    from kfp import compiler

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / path.name
        compiler.Compiler().compile(func, str(staged))
        text = staged.read_text()
    declared = component_image()
    if image and image != declared:
        # Rewrite only container image lines so the compiler's own layout is kept.
        text = re.sub(
            rf"^(\s+image: ){re.escape(declared)}$",
            lambda m: m.group(1) + image,
            text,
            flags=re.MULTILINE,
        )
    path.write_text(text)
    return path


def compile_all(output_dir: str | os.PathLike = "build", image: Optional[str] = None) -> list[Path]:
    """Writes ``pipelines/<name>.yaml`` and ``components/<name>.yaml`` under ``output_dir``.

    Args:
        output_dir: Folder that receives ``pipelines/`` and ``components/``.
        image: Component image; default ``GREENKFP_IMAGE`` or the release image.

    Returns:
        Every file written.
    """
    from greenkfp.components import ALL_COMPONENTS
    from greenkfp.pipelines import ALL_PIPELINES

    out = Path(output_dir)
    written = [
        compile_to_file(func, out / "pipelines" / f"{name}.yaml", image)
        for name, func in ALL_PIPELINES.items()
    ]
    written += [
        compile_to_file(func, out / "components" / f"{name}.yaml", image)
        for name, func in ALL_COMPONENTS.items()
    ]
    return written
