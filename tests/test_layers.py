"""Who may import whom: the library imports nothing of the project's other folders, the stages only the
library, the tools the library and each other, the benchmarks the library and the tools. Every arrow is a
plain import statement, so this test sees it: no folder loads another through importlib or sys.path."""

import ast

import pytest

from conftest import ROOT

FOLDERS = {"src": "mnist_ae", "stages": "stages", "tools": "tools", "benchmarks": "benchmarks"}
ALLOWED = {  # the top-level packages each folder's code may import from this project
    "src": {"mnist_ae"},
    "stages": {"mnist_ae"},
    "tools": {"mnist_ae", "tools"},
    "benchmarks": {"mnist_ae", "tools", "benchmarks"},
}
PROJECT = set(FOLDERS.values())


def imported(tree: ast.AST) -> set[str]:
    """The top-level names of every module a file imports, at any depth in it."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def files(folder: str):
    return sorted(path for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts)


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_folder_imports_only_the_layers_below_it(folder):
    wrong = {path.relative_to(ROOT).as_posix(): sorted((imported(ast.parse(path.read_text())) & PROJECT)
                                                       - ALLOWED[folder])
             for path in files(folder)}
    assert {path: names for path, names in wrong.items() if names} == {}


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_folder_reaches_another_behind_the_import_statements(folder):
    """sys.path edits and importlib calls naming another folder's package would hide an arrow from the test above."""
    for path in files(folder):
        text = path.read_text()
        assert "sys.path" not in text, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
                target = node.args[0] if node.args else None
                literal = target.value if isinstance(target, ast.Constant) else ast.unparse(target)
                assert not any(package in literal for package in PROJECT - {FOLDERS[folder]}), (path, literal)
