"""The package's surface: the type stubs describe what exists, the docs' example runs."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import visage


def stub_tree():
    return ast.parse((Path(visage.__file__).parent / "__init__.pyi").read_text())


def test_every_name_in_the_stubs_exists():
    for node in stub_tree().body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(visage, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                    assert hasattr(cls, item.name), f"{node.name}.{item.name}"
        elif isinstance(node, ast.FunctionDef):
            assert callable(getattr(visage, node.name)), node.name
    assert (Path(visage.__file__).parent / "py.typed").is_file()


def test_every_public_name_has_a_docstring_and_a_stub():
    stubbed = {n.name for n in stub_tree().body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    for name in ["FaceAnalysis", "Face", "Gallery", "verify", "imread"]:
        assert name in stubbed
        assert (getattr(visage, name).__doc__ or "").strip(), name
    for name in ["get", "prepare"]:
        assert getattr(visage.FaceAnalysis, name).__doc__.strip()
    for name in ["enroll", "identify", "delete", "export", "audit_verify"]:
        assert getattr(visage.Gallery, name).__doc__.strip()


def test_the_example_in_docs_python_md_runs(photos):
    text = Path(os.environ["VISAGE_DOCS"]).read_text()
    example = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert len(example.strip().splitlines()) <= 12, example
    out = subprocess.run([sys.executable, "-c", example], cwd=photos[0].parent, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "sample1.jpg" in out.stdout and "same person" in out.stdout, out.stdout
