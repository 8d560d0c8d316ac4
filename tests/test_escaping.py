"""Text from data reaches HTML only through one escaping path (issue 17, part 1).

A store name, city, model, advisor, customer name, file name or store id comes from a DMS
export and may hold markup. Hypothesis puts generated hostile strings (script and image
tags, attribute breakouts, ``javascript:`` links, Markdown syntax, CJK text, control
characters) through every way the package writes data text into a page: the tables of
``Narrator.table``, the narration sentences of ``Narrator.text`` / ``tell`` (Markdown,
rendered by nbconvert's own renderer as the reports are), the download link, and the
report index. The page is parsed with ``html.parser`` (tests/html_safety.py): no tag or
attribute of a hostile string may be live, the page's tags are exactly those of the same
page made with harmless values, and the reader still sees the hostile text (escaped,
not deleted).
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import string
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from html_safety import live_markup, normalize_text, tag_structure, visible_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from crm_analysis import reporting
from crm_analysis.narrative import (
    MarkdownText,
    Narrator,
    catalog,
    download_link,
    escape_html,
    escape_markdown,
    html_element,
    html_table,
    markdown_text,
    strong,
)

TEXTS_DIR = Path(__file__).resolve().parent.parent / "crm_analysis" / "texts"
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

#: Pieces of hostile text: markup in every context a value can land in (element text,
#: a quoted attribute, a Markdown sentence, a code span, a table cell), Markdown and
#: maths syntax, CJK text and control characters.
PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    'x"><img src=x onerror=y>',
    "' onmouseover='alert(1)",
    '" onfocus="alert(1)" autofocus="',
    "javascript:alert(1)",
    "**b**",
    "[a](javascript:alert(1))",
    "[a]: javascript:alert(1)",
    "![i](x)",
    "http://evil.example/p?q=1",
    "<http://evil.example>",
    "<a href=javascript:alert(2)>a</a>",
    "<svg onload=alert(3)>",
    "<iframe src=//evil.example></iframe>",
    "</td></tr></table><b>x</b>",
    "</code><script>alert(4)</script>",
    "<style>*{color:red}</style>",
    "<img src=x onerror=alert(5)",
    "<!--", "-->", "<![CDATA[x]]>",
    "`code`", "_u_", "~~s~~", "$x$", "$$y$$", "\\(x\\)", "\\",
    "# h", "- item", "+ item", "1. item", "2) item", "> quote", "=== ", "---",
    "| a | b |", "&amp;", "&lt;b&gt;", "&#60;i&#62;",
    "门店（002）", "東京都", "서울", "\u202e", "\u00a0", "\u3000",
    "\x00", "\x07", "\x1b[31m", "\x7f",
    "\n", "\n\n", "\r\n# h2\n", "\t", "    code", " ",
]
hostile = st.lists(
    st.one_of(st.sampled_from(PAYLOADS),
              st.text(st.characters(codec="utf-8"), max_size=6)),
    min_size=1, max_size=4).map("".join)
#: Hostile strings that always hold live markup (tags and attributes), for the checks that
#: a hostile string's tags are gone.
markup = st.tuples(st.sampled_from(PAYLOADS[:6] + PAYLOADS[12:19]), hostile).map("".join)


def _assert_text_kept(page: str, values) -> None:
    shown = normalize_text(visible_text(page))
    for v in values:
        assert normalize_text(v) in shown, (v, shown)


# ----------------------------------------------------------------- the checker itself


@pytest.mark.parametrize("page", [
    "<p><img src=x onerror=alert(1)></p>",
    "<td><img src=x onerror=alert(1)</td>",
    '<a download="x"><img src=x onerror=y>">',
    "<td><script>alert(1)</script></td>",
    "<p title='' onmouseover='alert(1)'>",
    '<a href="javascript:alert(1)">a</a>',
    '<p><a href="http://evil.example/p?q=1">x</a></p>',
    "<p><svg onload=alert(3)></p>",
])
def test_the_checker_finds_live_markup(page):
    """Pages as the defects of issue 17 made them (an unescaped f-string, a Styler
    without escaping, Markdown passing HTML through) are caught."""
    payloads = ["<img src=x onerror=alert(1)>", 'x"><img src=x onerror=y>',
                "<script>alert(1)</script>", "' onmouseover='alert(1)",
                "[a](javascript:alert(1))", "http://evil.example/p?q=1", "<svg onload=alert(3)>",
                "<img src=x onerror=alert(1)"]
    assert live_markup(page, payloads)


def test_the_checker_accepts_escaped_text():
    payloads = ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>"]
    page = "<p>" + "".join(escape_html(p) for p in payloads) + "</p><script>ours()</script>"
    assert live_markup(page, payloads) == []
    assert normalize_text(visible_text(page)) == "".join(payloads)


# ------------------------------------------------------------------------- tables


@SETTINGS
@given(cells=st.lists(hostile, min_size=2, max_size=2), names=st.lists(hostile, min_size=3,
       max_size=3), label=hostile)
def test_table_escapes_cells_headers_and_index(cells, names, label):
    """Narrator.table: hostile text cells, column names and index labels (also a
    hostile name on a money and a percent column) stay text."""
    def frame(text, heads, index):
        df = pd.DataFrame({0: text, 1: [1234.5, np.nan], 2: [0.25, 0.5]}, index=[index] * 2)
        df.columns = heads  # hostile names may repeat
        return df

    n = Narrator("en")
    page = n.table(frame(cells, names, label), money=[names[1]], pct=[names[2]]).to_html()
    benign = n.table(frame(["a", "b"], ["c0", "c1", "c2"], "i"),
                     money=["c1"], pct=["c2"]).to_html()
    assert live_markup(page, [*cells, *names, label]) == []
    assert tag_structure(page) == tag_structure(benign)
    _assert_text_kept(page, [*cells, *names])
    if len(set(names)) == 3:  # the formats still apply under hostile column names
        assert "1,234" in page and "25.0%" in page and "–" in page


def test_table_formats_and_data_are_unchanged():
    styler = Narrator("en").table(pd.DataFrame({"<b>v</b>": [1234.4], "p": [0.25],
                                                "f": [1.5], "t": ["a&b"]}),
                                  money=["<b>v</b>"], pct=["p"], pct_digits=0)
    page = styler.to_html()
    assert "1,234" in page and "25%" in page and "1.500000" in page and "a&amp;b" in page
    assert "&lt;b&gt;v&lt;/b&gt;" in page and "<b>" not in page
    assert list(styler.data.columns) == ["<b>v</b>", "p", "f", "t"]  # the data is the data


def test_html_table_ignores_formats_of_absent_columns():
    page = html_table(pd.DataFrame({"a": [1.0]}), {"a": "{:.0f}", "zz": "{:.1%}"}).to_html()
    assert ">1<" in page


# ---------------------------------------------------------------------- narration


def _sentence(n: Narrator, key: str, **values) -> str:
    """The HTML of a narration sentence as a report shows it (``tell`` displays
    ``strong(text)`` as Markdown; nbconvert renders it with this function)."""
    return markdown2html_mistune(strong(n.text(key, **values)))


def _fill(template: str, text_values) -> dict:
    """Values for every field of ``template``: numbers for the number specs, dates for
    the date specs, the given text values (in turn) for the fields without a spec."""
    values, texts = {}, iter(text_values)
    for _, name, spec, _ in string.Formatter().parse(template):
        if not name or name in values:
            continue
        if spec in ("date", "month"):
            values[name] = pd.Timestamp("2024-06-30")
        elif spec:
            values[name] = 0.25
        else:
            values[name] = next(texts)
    return values


#: Sentences with text fields in every position: bold (common.store), the start of the
#: text (nb06.gap_worth), inside <code> (nb06.source_reports), a list of sentences
#: (nb03.effects), the middle of a sentence (nb04.call_list, nb05.model_failed).
KEYS = ["common.store", "nb06.gap_worth", "nb06.source_reports", "nb04.call_list",
        "nb05.model_failed", "nb06.stores"]


@SETTINGS
@given(key=st.sampled_from(KEYS), lang=st.sampled_from(["en", "zh"]),
       values=st.lists(hostile, min_size=4, max_size=4))
def test_narration_escapes_text_values(key, lang, values):
    n = Narrator(lang)
    template = catalog(key.split(".")[0])[key][lang]
    hostile_values = _fill(template, values * 3)
    page = _sentence(n, key, **hostile_values)
    benign = _sentence(n, key, **_fill(template, ["x"] * 12))
    assert live_markup(page, values) == []
    assert tag_structure(page) == tag_structure(benign)
    _assert_text_kept(page, [v for k, v in hostile_values.items() if isinstance(v, str)])


@SETTINGS
@given(names=st.lists(hostile, min_size=1, max_size=3), lang=st.sampled_from(["en", "zh"]))
def test_nested_sentences_stay_markdown_and_their_values_text(names, lang):
    """nb03.effects: a Markdown list of catalog sentences, each with a hostile name."""
    n = Narrator(lang)

    def page(labels):
        lines = [n.text("nb03.effect", name=s, ratio=1.5, lo=1.1, hi=2.0) for s in labels]
        return _sentence(n, "nb03.effects", effects=n.join(lines, "\n"))

    html = page(names)
    assert live_markup(html, names) == []
    assert tag_structure(html) == tag_structure(page(["x"] * len(names)))
    assert tag_structure(html).count(("li", ())) == len(names)  # the list is still a list
    _assert_text_kept(html, names)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_catalog_sentence_keeps_data_text_as_text(lang):
    """Every narration entry, its text fields filled with hostile strings, renders with
    the tags it has with harmless values, and shows the strings."""
    payloads = [p for p in PAYLOADS if normalize_text(p)]
    chapters = sorted(p.stem for p in TEXTS_DIR.glob("*.toml"))
    n, checked = Narrator(lang), 0
    for chapter in chapters:
        for key, texts in catalog(chapter).items():
            values = _fill(texts[lang], payloads[checked % 7:] + payloads)
            page = _sentence(n, key, **values)
            shown = [v for v in values.values() if isinstance(v, str)]
            assert live_markup(page, shown) == [], key
            assert tag_structure(page) == tag_structure(
                _sentence(n, key, **_fill(texts[lang], ["x"] * 40))), key
            _assert_text_kept(page, shown)
            checked += 1
    assert checked > 200


def test_markdown_text_composes_safely():
    n = Narrator("en")
    inner = n.text("common.store", store_name="**A**", store_id="<b>", as_of="2024-06-30")
    assert isinstance(inner, MarkdownText)
    assert inner.startswith("**&#42;&#42;A&#42;&#42; (&lt;b&gt;)**")  # ours bold, data not
    assert markdown_text(inner) is inner and markdown_text("*") == "&#42;"
    joined = n.join([inner, "<i>"], " · ")
    assert joined.endswith(" · &lt;i&gt;") and isinstance(joined, MarkdownText)
    assert isinstance("<u>" + inner, MarkdownText) and ("<u>" + inner).startswith("&lt;u&gt;")
    assert n.bold("a_b") == "**a&#95;b**"
    # numbers and dates are ours: formatted, never escaped; a text number is text
    failed = n.text("nb05.model_failed", model=-1, message="-1")
    assert failed.startswith("The -1 model") and failed.endswith(": &#45;1")
    assert escape_markdown("-1") == "&#45;1" and escape_markdown(" a ") == "&#32;a&#32;"


def test_plain_text_is_for_titles_outside_markdown():
    n = Narrator("zh")
    title = n.plain("nb04.call_list_title", store_name="A&B <1>", store_id="x_y",
                    as_of="2024-06-30")
    assert title == "回访清单 · A&B <1>（x_y）· 2024年6月30日"
    bold = n.plain("common.store", store_name="**S**", store_id="1", as_of="2024-06-30")
    assert bold.startswith("**S**（1）") and bold.count("**") == 2  # the data's, not ours
    nested = n.plain("nb03.effects", effects=n.text("nb03.effect", name="a_b <c>", ratio=1,
                                                       lo=1, hi=2))
    assert "a_b <c>" in nested and "&" not in nested


# ------------------------------------------------------------- links and elements


@SETTINGS
@given(file_name=hostile, text=hostile)
def test_download_link_keeps_file_name_and_text_in_place(file_name, text):
    page = download_link(b"PK\x03\x04", file_name, text)
    assert tag_structure(page) == [("p", ()), ("a", ("download", "href"))]
    assert live_markup(page, [file_name, text]) == []
    m = re.search(r'download="([^"]*)"', page)
    assert m is not None
    assert html.unescape(m.group(1)) == file_name  # the attribute holds exactly the name
    assert base64.b64decode(page.split("base64,")[1].split('"')[0]) == b"PK\x03\x04"
    _assert_text_kept(page, [text])


def test_download_link_with_the_store_id_of_issue_17():
    store_id = 'x"><img src=x onerror=alert(1)>'
    page = download_link(b"x", f"call_list_{store_id}_2024-06-30_en.xlsx", "Download")
    assert live_markup(page, [store_id]) == []
    assert Narrator("en").download(b"x", store_id, "<b>") == download_link(b"x", store_id,
                                                                             "<b>")


def test_html_element_refuses_names_that_are_not_names():
    assert html_element("br", "ignored", class_="a") == '<br class="a">'
    with pytest.raises(ValueError, match="html_element"):
        html_element("img src=x onerror=y", "")
    with pytest.raises(ValueError, match="html_element"):
        html_element("a", "", **{"x onclick": "y"})


def test_figure_text_from_data_is_not_mathtext():
    """A ``$`` in a store or model name is text in a chart, not maths (``$\\foo$`` used
    to fail the figure, and so the notebook)."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from crm_analysis import plotting

    with mpl.rc_context():
        plotting.setup("zh")
        fig, ax = plt.subplots(figsize=(2, 1))
        try:
            ax.set_title("门店 $\\foo{$ <b>")
            ax.bar(["$x^2$"], [1])
            fig.savefig(io.BytesIO(), format="png", dpi=20)
        finally:
            plt.close(fig)


# ----------------------------------------------------- a report and its index, whole


def _output(data: dict) -> dict:
    return nbformat.v4.new_output("display_data", data=data)


@settings(max_examples=3, deadline=None, derandomize=True, database=None)
@given(values=st.lists(markup, min_size=4, max_size=4))
def test_a_report_page_keeps_data_text_as_text(values, tmp_path_factory):
    """Table, narration and download link in a notebook, exported to HTML by
    reporting.to_html (the report's own converter, template and renderer)."""
    store, model, advisor, file_name = values
    n = Narrator("zh")
    table = n.table(pd.DataFrame({"车型": [model], advisor: [0.5]}), pct=[advisor])
    cell = nbformat.v4.new_code_cell("x", outputs=[
        _output({"text/markdown": strong(n.text("common.store", store_name=store,
                                                store_id=advisor, as_of="2024-06-30"))}),
        _output({"text/html": table.to_html(), "text/plain": "table"}),
        _output({"text/html": download_link(b"x", file_name, n.plain(
            "nb04.call_list_title", store_name=store, store_id="1", as_of="2024-06-30"))}),
    ])
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={
        "papermill": {"parameters": {"lang": "zh"}}})
    folder = tmp_path_factory.mktemp("page")
    nbformat.write(nb, folder / "r.ipynb")
    page = reporting.to_html(folder / "r.ipynb").read_text(encoding="utf-8")
    assert live_markup(page, values) == []
    _assert_text_kept(page, [store, model, advisor])


def test_index_page_keeps_store_names_and_errors_as_text(tmp_path):
    hostile_values = ["<script>alert(1)</script>", 'x"><img src=x onerror=y>',
                      "' onmouseover='alert(1)", "[a](javascript:alert(1))"]
    results = [reporting.ReportResult("001", hostile_values[0], "01_data_overview", "failed",
                                      1.0, None, None, error=hostile_values[1] + "\n" +
                                      hostile_values[2])]
    index = reporting.build_index(tmp_path, results, parameters={"x": hostile_values[3]},
                                  title=hostile_values[0], generated_at="2024-06-30T00:00:00")
    page = index.read_text(encoding="utf-8")
    assert live_markup(page, hostile_values) == []
    _assert_text_kept(page, hostile_values[:2])
    json.dumps(page)  # one page of text


# ------------------------------------------------------ real notebooks, hostile data

#: Hostile values for the text columns of a DMS export.
HOSTILE_DATA = {
    "store_name": "<script>alert('store')</script>",
    "model": "<img src=x onerror=alert('model')>",
    "advisor": "x\"><img src=x onerror=alert('advisor')>",
    "name": "' onmouseover='alert(1)",
    "city": "[a](javascript:alert(1))",
    "color": "**b** <svg onload=alert(3)>",
}
HOSTILE_FILE = "<img src=x onerror=alert('file')>.csv"


@pytest.mark.slow  # two notebooks run (about 45 s)
def test_reports_from_a_hostile_export_keep_data_text_as_text(tmp_path_factory,
                                                              notebook_runs):
    """A raw DMS export whose store name, models, advisors, customer names, colours and
    one file name are markup: notebook 01 (its data-quality table lists the files) and
    notebook 04 (its call list shows models) and the index show them as text."""
    from raw_export import AS_OF

    from crm_analysis.synth import generate
    from crm_analysis.synth.dms import write_dms_export

    folder = tmp_path_factory.mktemp("hostile") / "dms"
    ds = generate(n_stores=1, seed=7, scale=0.05, as_of=AS_OF)
    ds.stores["store_name"] = HOSTILE_DATA["store_name"]
    ds.stores["city"] = HOSTILE_DATA["city"]
    v, c = ds.vehicles, ds.customers
    v.loc[v.index[::2], "model"] = HOSTILE_DATA["model"]
    v["color"] = HOSTILE_DATA["color"]
    c["name"] = HOSTILE_DATA["name"]
    ds.repair_orders["advisor"] = HOSTILE_DATA["advisor"]
    first = write_dms_export(ds, folder, fault_rate=0.01, seed=7, formats=("csv",),
                             months_per_file=72).files[0]
    first.rename(first.with_name(HOSTILE_FILE))

    out, results = notebook_runs(("escaping", folder), lambda out: (out, reporting.run_reports(
        folder, out, notebooks=["01", "04"], lang="en", as_of=AS_OF, progress=False)))
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    hostile_values = [*HOSTILE_DATA.values(), HOSTILE_FILE]
    pages = {r.notebook: r.html_path.read_text(encoding="utf-8") for r in results}
    pages["index"] = (out / "index.html").read_text(encoding="utf-8")
    for name, page in pages.items():
        assert live_markup(page, hostile_values) == [], name
    _assert_text_kept(pages["01_data_overview"], [HOSTILE_DATA["store_name"], HOSTILE_FILE])
    _assert_text_kept(pages["04_churn_risk"], [HOSTILE_DATA["store_name"],
                                               HOSTILE_DATA["model"]])


def test_report_runner_refuses_a_store_id_that_is_not_a_folder_name(tmp_path):
    """reporting.run_reports writes out/<store id>/: a store id from data with markup or
    a path in it is refused before anything runs (crm_analysis.safety.contained)."""
    from crm_analysis.schema import example_dataset

    ds = example_dataset()
    bad = 'x"><img src=x onerror=alert(1)>'
    for table in (ds.stores, ds.vehicles, ds.repair_orders):
        table["store_id"] = table["store_id"].replace({table["store_id"].iloc[0]: bad})
    ds.to_dir(tmp_path / "data")
    with pytest.raises(ValueError, match="run_reports: .*cannot be used as a folder"):
        reporting.run_reports(tmp_path / "data", tmp_path / "out", notebooks=["01"],
                              progress=False)
    assert not (tmp_path / "out" / bad).exists()


def test_runs_index_lists_only_safely_named_runs(tmp_path):
    """A folder planted under --out and named like a script URL is not linked."""
    from crm_analysis import batch

    for name in ("2025-12", "javascript:alert(1)"):
        run = tmp_path / name / "001" / "en"
        run.mkdir(parents=True)
        (tmp_path / name / "index.html").write_text("<p>run</p>", encoding="utf-8")
        (run / f"01_x{batch._STAMP}").write_text("{}", encoding="utf-8")
    page = batch._write_runs_index(tmp_path).read_text(encoding="utf-8")
    assert 'href="2025-12/index.html"' in page
    assert "javascript" not in page
