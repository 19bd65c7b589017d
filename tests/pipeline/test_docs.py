"""components/REFERENCE.md is rendered from the components and is current."""

import inspect
import re

import docstring_parser
import pytest
import yaml
from helpers import REPO

from greenkfp.components import ALL_COMPONENTS
from greenkfp.pipelines.tools import docs

REFERENCE = REPO / "components" / "REFERENCE.md"
REGENERATE = (
    "run `greenkfp docs` (or `.venv/bin/python -c 'from greenkfp.pipelines.tools.docs import "
    "write_reference; write_reference()'`) and commit components/REFERENCE.md"
)


def canonical(type_name: str) -> str:
    from kfp.dsl.types import type_utils

    return type_utils.get_canonical_name_for_outer_generic(type_name)


def sections(text: str) -> dict:
    """Splits the reference into {component name: section text}."""
    parts = re.split(r"^## `(\w+)`$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def table(section: str, heading: str) -> dict:
    """Reads the table under ``### heading`` as {first cell without backticks: cells}."""
    block = section.split(f"### {heading}\n\n", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows[cells[0].strip("`")] = cells
    return rows


def documented_names(component) -> set:
    text = inspect.getdoc(component.python_func)
    names = {p.arg_name for p in docstring_parser.parse(text).params}
    if "Returns:\n" in text:
        returned = docstring_parser.parse(text.replace("Returns:", "Args:"))
        names |= {p.arg_name for p in returned.params}
    return names


def test_committed_reference_is_current():
    assert REFERENCE.exists(), f"{REFERENCE} is missing: {REGENERATE}"
    assert REFERENCE.read_text() == docs.render_reference(), f"{REFERENCE} is stale: {REGENERATE}"


def test_write_reference(tmp_path):
    written = docs.write_reference(tmp_path / "sub" / "REFERENCE.md")
    assert written == tmp_path / "sub" / "REFERENCE.md"
    assert written.read_text() == docs.render_reference()
    assert docs.default_reference_path() == REFERENCE


def test_every_input_and_output_appears_with_type_and_default():
    found = sections(REFERENCE.read_text())
    assert list(found) == list(ALL_COMPONENTS), f"one section per component, in order: {REGENERATE}"
    for name, component in ALL_COMPONENTS.items():
        spec = component.component_spec
        inputs = table(found[name], "Inputs")
        assert set(inputs) == set(spec.inputs or {}), name
        for input_name, input_spec in (spec.inputs or {}).items():
            _, python_type, kfp_type, default, description = inputs[input_name]
            where = f"{name}.{input_name}"
            assert kfp_type == f"`{canonical(input_spec.type)}`", where
            assert python_type.strip("`"), where
            expected = f"`{input_spec.default!r}`" if input_spec.optional else "required"
            assert default == expected, where
            assert description, f"{where} has no description: document it in the docstring"
        outputs = table(found[name], "Outputs")
        assert set(outputs) == set(spec.outputs or {}), name
        for output_name, output_spec in (spec.outputs or {}).items():
            _, python_type, kfp_type, description = outputs[output_name]
            where = f"{name}.{output_name}"
            assert kfp_type == f"`{canonical(output_spec.type)}`", where
            assert python_type.strip("`"), where
            assert description, f"{where} has no description: document it in the docstring"


def test_descriptions_come_from_the_docstrings():
    found = sections(REFERENCE.read_text())
    for name, component in ALL_COMPONENTS.items():
        spec = component.component_spec
        interface = set(spec.inputs or {}) | set(spec.outputs or {})
        stale = documented_names(component) - interface
        assert not stale, f"{name}'s docstring documents {stale}, which it does not have"
        rows = {**table(found[name], "Inputs"), **table(found[name], "Outputs")}
        for input_name, input_spec in (spec.inputs or {}).items():
            # kfp puts the same docstring text in the YAML; the reference joins its lines.
            words = " ".join(input_spec.description.split())
            assert rows[input_name][-1].replace("\\", "") == words, f"{name}.{input_name}"
        first_line = inspect.getdoc(component.python_func).splitlines()[0]
        assert first_line in found[name].replace("\\", ""), name


@pytest.mark.parametrize("name", list(ALL_COMPONENTS))
def test_usage_example_compiles(name, tmp_path):
    from kfp import compiler

    section = sections(REFERENCE.read_text())[name]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, f"REFERENCE.md:{name}", "exec"), namespace)
    path = tmp_path / "example.yaml"
    compiler.Compiler().compile(namespace[f"{name}_example"], str(path))
    spec = yaml.safe_load(path.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert ALL_COMPONENTS[name].component_spec.name in tasks
