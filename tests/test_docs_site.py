"""The site's own checkers (docs/check_links.py, docs/gallery_times.py) see what they are for, on small inputs."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import check_links  # noqa: E402
import gallery_times  # noqa: E402


def _write(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")


def test_link_checker_flags_missing_files_and_anchors(tmp_path):
    _write(tmp_path / "index.html", '<a href="api/page.html#there">ok</a> <a href="api/page.html#gone">bad anchor</a>'
                                    ' <a href="nowhere.html">bad file</a> <a href="#top">ok</a> <p id="top"></p>'
                                    ' <a href="https://example.org/x.html">external</a> <img src="_images/a.png">')
    _write(tmp_path / "api" / "page.html", '<section id="there"></section><a href="../index.html#top">ok</a>')
    problems, checked = check_links.broken_links(tmp_path)
    assert checked == 6                      # the external link is not followed
    assert len(problems) == 3, problems
    assert any("#gone" in p for p in problems)
    assert any("nowhere.html" in p for p in problems)
    assert any("_images/a.png" in p for p in problems)
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "a.png").write_bytes(b"")
    assert len(check_links.broken_links(tmp_path)[0]) == 2


def test_gallery_times_reads_sphinx_gallerys_table():
    table = """
   * - :ref:`sphx_glr_auto_examples_plot_a.py` (``../examples/plot_a.py``)
     - 01:02.500
     - 0.0
   * - :ref:`sphx_glr_auto_examples_plot_b.py` (``../examples/plot_b.py``)
     - 00:03.25
     - 0.0
"""
    assert gallery_times.example_times(table) == {"plot_a.py": 62.5, "plot_b.py": 3.25}
