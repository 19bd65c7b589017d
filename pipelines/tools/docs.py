"""Renders ``components/REFERENCE.md`` from the components themselves.

Every description comes from a component's docstring (Google style: the summary,
``Args:`` and ``Returns:``), parsed with ``docstring_parser`` as kfp does for the
descriptions in the compiled YAML and the KFP UI; every name, type and default comes
from the component's signature and its KFP component spec. Nothing is written twice,
so the reference cannot drift: a test compares the committed file with a fresh render.

Rendering needs only ``kfp`` (``docstring_parser`` is one of its dependencies).
"""

from __future__ import annotations

import inspect
import os
import typing
from pathlib import Path
from typing import Any, Optional

REFERENCE_FILE = "REFERENCE.md"

# The Python annotation of a pipeline parameter for each KFP parameter type.
_PIPELINE_PARAMETER_TYPES = {
    "String": "str",
    "Integer": "int",
    "Float": "float",
    "Boolean": "bool",
    "List": "list",
    "Dict": "dict",
}


def _component(name: str) -> Any:
    from greenkfp.components import ALL_COMPONENTS

    return ALL_COMPONENTS[name]


def _is_artifact(type_name: str) -> bool:
    from kfp.dsl.types import type_utils

    return not type_utils.is_parameter_type(type_name)


def _kfp_type(type_name: str) -> str:
    """The type as the compiled YAML declares it: ``List``, ``system.Model@0.0.1``."""
    from kfp.dsl.types import type_utils

    return type_utils.get_canonical_name_for_outer_generic(type_name)


def _escape(text: str) -> str:
    """Escapes what Markdown would read as markup or as a table cell border."""
    for char in ("\\", "|", "<", "*"):
        text = text.replace(char, "\\" + char)
    return text


def _prose(text: Optional[str]) -> str:
    """Joins wrapped lines; keeps blank-line paragraph breaks."""
    paragraphs = [" ".join(p.split()) for p in (text or "").split("\n\n")]
    return "\n\n".join(_escape(p) for p in paragraphs if p)


def _annotation(annotation: Any) -> str:
    """Writes a type annotation as in the component's signature: ``Optional[Input[Model]]``."""
    from kfp.dsl.types.type_annotations import InputAnnotation, OutputAnnotation

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        base, *meta = args
        wrapper = (
            "Input" if InputAnnotation in meta else "Output" if OutputAnnotation in meta else ""
        )
        return f"{wrapper}[{_annotation(base)}]" if wrapper else _annotation(base)
    if origin is typing.Union:
        others = [a for a in args if a is not type(None)]
        if len(others) == 1 and len(args) == 2:
            return f"Optional[{_annotation(others[0])}]"
        return f"Union[{', '.join(_annotation(a) for a in args)}]"
    if origin in (list, dict) and args:
        return f"{origin.__name__.capitalize()}[{', '.join(_annotation(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return inspect.formatannotation(annotation)


def _python_types(component: Any) -> dict[str, str]:
    """Maps each input and output name to its annotation in the Python signature."""
    signature = inspect.signature(component.python_func)
    types = {name: _annotation(p.annotation) for name, p in signature.parameters.items()}
    returned = signature.return_annotation
    fields = getattr(returned, "__annotations__", None)
    if fields and returned is not inspect.Signature.empty:
        types.update({name: _annotation(a) for name, a in fields.items()})
    elif returned not in (inspect.Signature.empty, None):
        types["Output"] = _annotation(returned)
    return types


def _docstring(component: Any) -> tuple[Any, dict[str, str]]:
    """Parses the docstring; returns it and the description of every input and output.

    ``Returns:`` entries name the NamedTuple fields; they are read as kfp reads them,
    as if they were one more ``Args:`` section.
    """
    import docstring_parser

    text = inspect.getdoc(component.python_func) or ""
    parsed = docstring_parser.parse(text)
    descriptions = {p.arg_name: p.description or "" for p in parsed.params}
    for keyword in ("Returns:\n", "Returns\n", "Return:\n", "Return\n"):
        if keyword in text:
            returned = docstring_parser.parse(text.replace(keyword.strip(), "Args:"))
            for param in returned.params:
                descriptions.setdefault(param.arg_name, param.description or "")
            break
    return parsed, descriptions


def _default(spec: Any) -> str:
    return f"`{spec.default!r}`" if spec.optional else "required"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _find_producer(input_name: str, type_name: str, exclude: set[str]) -> Optional[tuple[str, str]]:
    """The component whose output feeds a required artifact input in the examples.

    The first component (in ``ALL_COMPONENTS`` order) with an output of the same name
    and type; else, unless the type is the generic ``system.Artifact``, the first with an
    output of the same type.
    """
    from greenkfp.components import ALL_COMPONENTS

    candidates = [
        (name, output_name)
        for name, component in ALL_COMPONENTS.items()
        if name not in exclude
        for output_name, output in (component.component_spec.outputs or {}).items()
        if output.type == type_name
    ]
    for name, output_name in candidates:
        if output_name == input_name:
            return name, output_name
    if candidates and not type_name.startswith("system.Artifact@"):
        return candidates[0]
    return None


def _call(target: str, function: str, arguments: dict[str, str]) -> list[str]:
    """Formats ``target = function(k=v, ...)`` on one line, or one argument a line."""
    flat = ", ".join(f"{k}={v}" for k, v in arguments.items())
    line = f"    {target} = {function}({flat})"
    if len(line) <= 88:
        return [line]
    return [
        f"    {target} = {function}(",
        *(f"        {k}={v}," for k, v in arguments.items()),
        "    )",
    ]


def usage_example(name: str) -> str:
    """Writes a pipeline that runs component ``name`` with every required input given.

    Required artifact inputs come from the first other component with an output of the
    same name and type (itself set up the same way), else from a ``dsl.importer``;
    required parameters become pipeline parameters. Optional inputs are left out.

    Args:
        name: A key of ``ALL_COMPONENTS``.

    Returns:
        Python source that defines ``<name>_example``, a ``@dsl.pipeline``.
    """
    parameters: dict[str, str] = {}
    lines: list[str] = []
    done: list[str] = []

    def add(component_name: str, stack: set[str]) -> None:
        if component_name in done:
            return
        arguments = {}
        for input_name, spec in (_component(component_name).component_spec.inputs or {}).items():
            if spec.optional:
                continue
            if not _is_artifact(spec.type):
                parameters.setdefault(
                    input_name, _PIPELINE_PARAMETER_TYPES.get(_kfp_type(spec.type), "str")
                )
                arguments[input_name] = input_name
                continue
            producer = _find_producer(input_name, spec.type, stack | {component_name})
            if producer is not None:
                add(producer[0], stack | {component_name})
                arguments[input_name] = f'{producer[0]}_task.outputs["{producer[1]}"]'
            else:
                artifact_class = spec.type.split("@")[0].split(".")[-1]
                parameters.setdefault(f"{input_name}_uri", "str")
                lines.extend(
                    _call(
                        f"{input_name}_importer",
                        "dsl.importer",
                        {
                            "artifact_uri": f"{input_name}_uri",
                            "artifact_class": f"dsl.{artifact_class}",
                        },
                    )
                )
                arguments[input_name] = f"{input_name}_importer.output"
        lines.extend(_call(f"{component_name}_task", component_name, arguments))
        done.append(component_name)

    add(name, set())
    kfp_name = _component(name).component_spec.name
    signature = ", ".join(f"{p}: {t}" for p, t in parameters.items())
    header = f"def {name}_example({signature}):"
    if len(header) > 100:
        header = (
            f"def {name}_example(\n"
            + "".join(f"    {p}: {t},\n" for p, t in parameters.items())
            + "):"
        )
    imports = ", ".join(sorted(done))
    return (
        "\n".join(
            [
                "from kfp import dsl",
                "",
                f"from greenkfp.components import {imports}",
                "",
                "",
                f'@dsl.pipeline(name="{kfp_name}-example")',
                header,
                *lines,
            ]
        )
        + "\n"
    )


def render_component(name: str) -> str:
    """Renders the Markdown section of component ``name``.

    Args:
        name: A key of ``ALL_COMPONENTS``.

    Returns:
        The section: description, inputs, outputs and a usage example.
    """
    component = _component(name)
    spec = component.component_spec
    parsed, descriptions = _docstring(component)
    python_types = _python_types(component)
    family = component.python_func.__module__.split(".")[-2]
    summary = "\n\n".join(p for p in (parsed.short_description, parsed.long_description) if p)
    lines = [
        f"## `{name}`",
        "",
        _prose(summary),
        "",
        f"Family: [`{family}`]({family}/README.md). "
        f"KFP name: `{spec.name}`. "
        f"YAML: [`build/components/{name}.yaml`](../build/components/{name}.yaml), which "
        "`kfp.components.load_component_from_file` loads with the same interface.",
        "",
        "### Inputs",
        "",
        _row(["Name", "Type", "KFP type", "Default", "Description"]),
        _row(["---"] * 5),
    ]
    signature_order = list(inspect.signature(component.python_func).parameters)
    inputs = spec.inputs or {}
    for input_name in sorted(inputs, key=signature_order.index):
        input_spec = inputs[input_name]
        lines.append(
            _row(
                [
                    f"`{input_name}`",
                    f"`{python_types[input_name]}`",
                    f"`{_kfp_type(input_spec.type)}`",
                    _default(input_spec),
                    _prose(descriptions.get(input_name)),
                ]
            )
        )
    lines += [
        "",
        "### Outputs",
        "",
        _row(["Name", "Type", "KFP type", "Description"]),
        _row(["---"] * 4),
    ]
    order = signature_order + list(python_types)
    outputs = spec.outputs or {}
    for output_name in sorted(outputs, key=order.index):
        lines.append(
            _row(
                [
                    f"`{output_name}`",
                    f"`{python_types[output_name]}`",
                    f"`{_kfp_type(outputs[output_name].type)}`",
                    _prose(descriptions.get(output_name)),
                ]
            )
        )
    lines += ["", "### Example", "", "```python", usage_example(name).rstrip("\n"), "```", ""]
    return "\n".join(lines)


def render_reference() -> str:
    """Renders the whole ``components/REFERENCE.md``, one section per component.

    Returns:
        The Markdown text, components in ``ALL_COMPONENTS`` order.
    """
    from greenkfp.components import ALL_COMPONENTS

    parts = [
        "# Component reference",
        "",
        "Generated by `greenkfp docs` from each component's docstring, signature and KFP "
        "component spec: do not edit it by hand; edit the docstring and regenerate. "
        "The input descriptions are also those the compiled YAML carries and the KFP UI shows.",
        "",
        _row(["Component", "Summary"]),
        _row(["---"] * 2),
    ]
    for name, component in ALL_COMPONENTS.items():
        parsed, _ = _docstring(component)
        parts.append(_row([f"[`{name}`](#{name})", _prose(parsed.short_description)]))
    parts.append("")
    parts += [render_component(name) for name in ALL_COMPONENTS]
    return "\n".join(parts)


def default_reference_path() -> Path:
    """Returns ``REFERENCE.md`` in the folder of ``greenkfp.components`` (``components/``)."""
    import greenkfp.components

    return Path(greenkfp.components.__file__).resolve().parent / REFERENCE_FILE


def write_reference(path: Optional[str | os.PathLike] = None) -> Path:
    """Writes the component reference.

    Args:
        path: Where to write; default ``components/REFERENCE.md`` of this checkout.

    Returns:
        The path written.
    """
    target = Path(path) if path is not None else default_reference_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_reference())
    return target
