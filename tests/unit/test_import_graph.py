"""A family imports itself and ``components/_shared``, never another family (DESIGN.md, 11).

The modules are parsed, not imported, so every import counts: at module level, inside
functions and under ``TYPE_CHECKING``.
"""

import ast
from pathlib import Path

import pytest

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
SHARED = "_shared"
PACKAGE_PREFIXES = ("greenkfp.components", "components")


def families(root: Path = COMPONENTS) -> set[str]:
    """The sub-packages of components/, ``_shared`` included."""
    return {p.parent.name for p in root.glob("*/__init__.py")}


def imports(path: Path, root: Path = COMPONENTS) -> list[tuple[int, str, list[str]]]:
    """Every import statement of a file: ``(line, its text, absolute modules it may load)``.

    ``from package import name`` may load ``package.name`` (a sub-module) too; relative
    imports are resolved against the file's package.
    """
    package = ["greenkfp", "components", *path.parent.relative_to(root).parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            modules = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.append((node.lineno, ast.unparse(node), modules))
    return found


def family_of_import(module: str, known: set[str]) -> str:
    """The components family a dotted module name points into, or ``""``."""
    for prefix in PACKAGE_PREFIXES:
        if module.startswith(prefix + "."):
            head = module[len(prefix) + 1 :].split(".")[0]
            return head if head in known else ""
    return ""


def cross_family_imports(root: Path = COMPONENTS) -> list[str]:
    """One line per import of another family, naming the module and the import."""
    known = families(root)
    problems = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if len(rel.parts) < 2:  # components/__init__.py gathers every family's components
            continue
        own = rel.parts[0]
        for line, statement, modules in imports(path, root):
            targets = {family_of_import(m, known) for m in modules} - {"", own, SHARED}
            if targets:
                who = "_shared" if own == SHARED else f"family {own!r}"
                problems.append(
                    f"components/{rel}:{line}: {who} imports {', '.join(sorted(targets))}: "
                    f"{statement}"
                )
    return problems


def test_families_are_found():
    assert {SHARED, "training", "compression", "fairness", "deployment"} <= families()


def test_no_family_imports_another():
    problems = cross_family_imports()
    assert not problems, "cross-family imports (use components/_shared):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from greenkfp.components.training import trainer\n", "imports training: from"),
        ("import greenkfp.components.deployment.canary\n", "imports deployment: import"),
        ("def f():\n    from greenkfp.components.training.model import x\n", "training.model"),
        ("from ...training import model\n", "imports training: from ...training import"),
        ("from greenkfp.components import fairness\n", "imports fairness: from"),
    ],
)
def test_a_planted_import_is_named(tmp_path, source, expected):
    root = tmp_path / "components"
    for family in ("_shared", "training", "compression", "fairness", "deployment"):
        (root / family).mkdir(parents=True)
        (root / family / "__init__.py").write_text("")
    (root / "compression" / "sub").mkdir()
    (root / "compression" / "sub" / "mod.py").write_text(source)
    (root / "_shared" / "helper.py").write_text("import greenkfp.components.fairness.task\n")
    (root / "training" / "ok.py").write_text(
        "from greenkfp.components._shared import io\nfrom greenkfp.components.training import x\n"
    )
    problems = cross_family_imports(root)
    assert any(
        p.startswith("components/compression/sub/mod.py:") and expected in p for p in problems
    ), problems
    assert (
        "components/_shared/helper.py:1: _shared imports fairness: "
        "import greenkfp.components.fairness.task"
    ) in problems
    assert not [p for p in problems if "training/ok.py" in p]
