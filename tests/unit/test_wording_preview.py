"""History previews read as words: Markdown markers go without leaving gaps before punctuation."""

from desktop_vlm.gui.wording import preview_line


def test_emphasis_leaves_no_gap_before_punctuation():
    assert preview_line("**Café Lumen**, 12 Harbour Street") == "Café Lumen, 12 Harbour Street"
    assert preview_line("lists **three items**: a table") == "lists three items: a table"


def test_headings_lists_and_tables_become_words():
    assert preview_line("# Title\n- one\n- two\n1. three") == "Title one two three"
    assert preview_line("| Item | Qty |\n|---|---|\n| Flat white | 1 |") == "Item Qty Flat white 1"
