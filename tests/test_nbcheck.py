"""The notebook comparison (notebooks/nbcheck.py) holds on other machines yet still fails on real
changes: numbers within tolerance pass, text and structure changes fail."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks"))

from nbcheck import compare_cell, compare_notebook, compare_text

WORDS = (
    '<span class="vnb-word" data-start="2.060" data-end="2.300">at</span> '
    '<span class="vnb-word" data-start="2.300" data-end="2.600">dusk.</span> [00:04]'
)


def test_word_times_that_moved_a_little_still_match() -> None:
    moved = WORDS.replace("2.060", "2.040").replace("2.600", "2.580").replace("[00:04]", "[00:05]")
    assert compare_text(WORDS, moved).ok


def test_a_number_far_off_fails() -> None:
    diff = compare_text(WORDS, WORDS.replace("2.600", "9.600"))
    assert not diff.ok and ("2.600", "9.600") in diff.far_numbers


def test_a_number_with_thousands_separators_is_one_number() -> None:
    """A file of 2,151,213 bytes that became 2,180,725 moved 1.4 %, not from 213 to 725."""
    assert compare_text("chapter.mp3: 2,151,213 bytes", "chapter.mp3: 2,180,725 bytes").ok
    assert not compare_text("chapter.mp3: 2,151,213 bytes", "chapter.mp3: 3,180,725 bytes").ok
    assert compare_text("values 1, 2, 3", "values 1, 2, 3").ok


def test_changed_text_beyond_the_budget_fails() -> None:
    before = "The library opens at nine in the morning and students arrive early."
    assert compare_text(before, before.replace("nine", "ten")).ok  # one word: within budget
    after = "A museum closes at noon on sundays while tourists leave late."
    diff = compare_text(before, after)
    assert not diff.ok and "changed tokens" in diff.describe()


def test_volatile_parts_are_masked() -> None:
    a = 'src="data:audio/mpeg;base64,AAAA" id="vnb-tr-0123456789ab" at 127.0.0.1:4321'
    b = 'src="data:audio/mpeg;base64,BBBBBB" id="vnb-tr-ba9876543210" at 127.0.0.1:9999'
    assert compare_text(a, b).changed_tokens == []


def _out(text: str) -> dict[str, object]:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_structure_must_match_exactly() -> None:
    html = nbformat.v4.new_output("display_data", data={"text/html": "<b>x</b>", "text/plain": "x"})
    plain = nbformat.v4.new_output("display_data", data={"text/plain": "x"})
    assert compare_cell([html], [html]) == []
    assert "structure" in compare_cell([html], [plain])[0]
    assert "structure" in compare_cell([_out("a")], [_out("a"), _out("b")])[0]


def test_a_new_error_is_reported() -> None:
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])
    assert compare_cell([_out("ok")], [error]) == ["raised ValueError: boom"]


def test_volatile_cells_only_have_to_run() -> None:
    saved = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("t")])
    saved.cells[0].metadata["tags"] = ["volatile-output"]
    saved.cells[0].outputs = [_out("took 1.2 s")]
    fresh = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("t")])
    fresh.cells[0].outputs = [_out("took 31 s, and more lines")]
    assert compare_notebook(saved, fresh) == []
    fresh.cells[0].outputs = [nbformat.v4.new_output("error", ename="E", evalue="x", traceback=[])]
    assert compare_notebook(saved, fresh) == ["cell 0: raised E: x"]


@pytest.mark.parametrize(
    "path", sorted(Path(__file__).resolve().parents[1].glob("notebooks/*.ipynb"))
)
def test_every_saved_notebook_matches_itself(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert compare_notebook(nb, nb) == []


def test_stamps_compare_as_times_across_a_minute() -> None:
    assert compare_text("[00:59] Bye.", "[01:00] Bye.").ok
    assert not compare_text("[00:59] Bye.", "[01:09] Bye.").ok
