"""Reports hold one language (issue 18): the checker itself, and every report of a run.

The notebooks' prose sits in Markdown cells tagged ``lang-en`` / ``lang-zh``; the report
runner keeps one language (``reporting.language_cells``) and declares it in
``<html lang>``. Every report written through the ``notebook_runs`` fixture is checked
by ``report_language.check_reports``; the slow test here runs every notebook of the
default data for one store and the group, in both languages.
"""

from __future__ import annotations

import copy

import nbformat
import nbformat.v4 as v4
import pytest
from report_language import check_reports, other_language_blocks, report_blocks

from crm_analysis import batch, reporting

EN = '<html lang="en"><body><h1>Store</h1><p>The store sold {n} cars to 南京 owners.</p>{x}'
ZH = '<html lang="zh"><body><h1>门店</h1><p>本店售出 {n} 辆 Falcon 2.0T。</p>{x}'


def test_checker_finds_a_chinese_paragraph_in_an_english_report():
    chinese = "本店的客户流失主要发生在保修期结束后。"
    assert other_language_blocks(EN.format(n=3, x="")) == []
    assert other_language_blocks(EN.format(n=3, x=f"<p>{chinese}</p>")) == [chinese]


def test_checker_finds_an_english_paragraph_in_a_chinese_report():
    english = "Most owners leave after the warranty."
    data = "<table><td>City Premium 4S store of the group</td></table>"
    assert other_language_blocks(ZH.format(n=3, x=data)) == []
    assert other_language_blocks(ZH.format(n=3, x=f"<li>{english}</li>")) == [english]


def test_checker_needs_a_declared_language():
    with pytest.raises(AssertionError, match="<html lang>"):
        other_language_blocks("<html><p>text</p></html>")


def test_to_html_declares_the_language_and_keeps_one_language(tmp_path):
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Title", metadata={"tags": ["lang-en"]}),
        v4.new_markdown_cell("# 标题", metadata={"tags": ["lang-zh"]})])
    for lang in ("en", "zh"):
        one = reporting.language_cells(copy.deepcopy(nb), lang)
        one.metadata["papermill"] = {"parameters": {"lang": lang}}
        path = tmp_path / f"{lang}.ipynb"
        nbformat.write(one, path)
        html = reporting.to_html(path).read_text(encoding="utf-8")
        declared, blocks = report_blocks(html)
        assert declared == lang
        assert blocks == (["Title"] if lang == "en" else ["标题"])


@pytest.mark.slow
def test_every_report_of_the_default_data_speaks_one_language(tmp_path, default_dir):
    """`make reports` for store 001 and the group: every notebook, both languages."""
    run = batch.run_batch(default_dir, tmp_path, stores="001", langs="en,zh", jobs=2,
                          progress=False)
    assert not run.failed, [r.error for r in run.failed]
    assert check_reports(run.run_dir) == 2 * len(reporting.discover_notebooks()) == 12


def test_bold_numbers_of_the_narration_survive_the_html(tmp_path):
    """`Narrator` shows bold as <strong> (Chinese text); nbconvert's embed_images used to
    re-parse inline HTML and print `<strong></strong>5.0`, losing the number."""
    from crm_analysis.narrative import strong

    text = strong("差距最大的是**City Premium 4S（002）**为 **39.2%**。")
    out = v4.new_output("display_data", data={"text/markdown": text, "text/plain": "x"})
    nb = v4.new_notebook(cells=[v4.new_code_cell("n.tell(...)", outputs=[out])])
    nb.metadata["papermill"] = {"parameters": {"lang": "zh"}}
    nbformat.write(nb, tmp_path / "bold.ipynb")
    html = reporting.to_html(tmp_path / "bold.ipynb").read_text(encoding="utf-8")
    assert "<strong>City Premium 4S（002）</strong>为 <strong>39.2%</strong>" in html
    assert "<strong></strong>" not in html
