"""The documentation's examples run and say what they claim."""

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_guide_python_api_example_runs():
    """The Python API example of docs/guide.md, run as written: the age edit raises every face's age reading."""
    text = (ROOT / "docs" / "guide.md").read_text()
    (example,) = re.findall(r"## Python API.*?```python\n(.*?)```", text, re.S)
    scope: dict = {}
    exec(compile(example, "docs/guide.md", "exec"), scope)  # noqa: S102 - the repository's own documentation
    faces, edited, codes = scope["faces"], scope["edited"], scope["codes"]
    assert faces.shape == (4, 64, 64, 3) and faces.dtype == np.uint8
    assert edited.shape[0] == 4 and np.allclose(edited[:, 0], codes[:4], atol=1e-6)
    assert scope["smile"].info.validation_accuracy > 0.8


def test_readme_links_resolve():
    """Every relative link of the README and the docs points at a file that exists."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name}: {target}"
