"""Where the details page scrolls to after Next refused (:func:`scroll_stop`), and which
message it repeats at its top (:func:`summary_note`): plain functions, no window."""

from __future__ import annotations

from kiosk.screens.demographics import scroll_stop, summary_note

# A page of text lines 40 px tall, 10 px apart: (top, bottom) down from the page's top.
LINES = [(10.0 + 50 * n, 50.0 + 50 * n) for n in range(20)]  # the page ends at 1000
PAGE = 1010.0


def cut(edge: float) -> list[tuple[float, float]]:
    return [(a, b) for a, b in LINES if a + 1 < edge < b - 1]


def test_a_target_below_is_brought_up_and_no_line_is_cut_at_either_edge() -> None:
    start, end = scroll_stop(LINES, (810.0, 850.0), top=0.0, page=PAGE, view=325.0)
    assert start <= 810.0 and end >= 850.0 and end - start <= 325.0
    assert not cut(start) and not cut(end), (start, end)
    assert (start, end) == (550.0, 860.0)  # moved as little as needed: the target low


def test_a_target_above_is_brought_down_and_no_line_is_cut() -> None:
    start, end = scroll_stop(LINES, (110.0, 150.0), top=600.0, page=PAGE, view=333.0)
    assert start == 110.0  # the target at the top, as little moved as needed
    assert end <= start + 333.0 and not cut(end), end


def test_at_the_page_end_the_top_edge_moves_below_the_line_it_cut() -> None:
    start, end = scroll_stop(LINES, (960.0, 1000.0), top=0.0, page=PAGE, view=333.0)
    assert end == PAGE and not cut(start) and start <= 960.0


def test_a_page_shorter_than_the_view_is_shown_whole() -> None:
    assert scroll_stop(LINES[:3], (10.0, 50.0), top=0.0, page=160.0, view=300.0) == (0.0,
                                                                                     160.0)


def test_the_top_of_the_page_for_a_problem_of_no_row() -> None:
    start, end = scroll_stop(LINES, (0.0, 0.0), top=500.0, page=PAGE, view=325.0)
    assert start == 0.0 and not cut(end) and end <= 325.0


def test_the_fields_message_is_not_repeated_at_the_top_but_others_are() -> None:
    errors = {"place_of_birth": "Tempat lahir wajib diisi."}
    assert summary_note("Tempat lahir wajib diisi.", errors) == ""
    eligibility = "e-KTP untuk penduduk berusia 17 tahun"
    assert summary_note(eligibility, errors) == eligibility
    assert summary_note("", {}) == ""
