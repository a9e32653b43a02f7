"""report/index.html: self-contained, answers "which cluster got most of round N's budget, why, and what did the
teacher write for it?", and renders in a real browser (headless Chromium, Debian's `chromium` package,
installed by `make setup`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillgraph.graph.cli import app
from distillgraph.graph.runner import final_state
from distillgraph.graph.trace_view import cluster_names

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars"]


class Page(HTMLParser):
    """Elements of interest in a (dumped) page: img srcs by id, dataset rows, plan tables' text, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: dict[str, str] = {}
        self.rows: list[dict[str, str]] = []
        self.scripts = 0
        self.urls: list[str] = []
        self.plan_text: list[str] = []
        self._in_plan = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs[a.get("id", "")] = a.get("src", "")
        if tag == "tr" and "ann" in (a.get("class") or "").split():
            self.rows.append(a)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key):
                self.urls.append(a[key])
        if tag == "table" and "plan" in (a.get("class") or "").split():
            self._in_plan += 1

    def handle_endtag(self, tag):
        if tag == "table" and self._in_plan:
            self._in_plan -= 1

    def handle_data(self, data):
        if self._in_plan:
            self.plan_text.append(data)


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_run_writes_a_self_contained_page(recorded_run):
    page = recorded_run / "report" / "index.html"
    html = page.read_text(encoding="utf-8")
    p = parse(html)
    assert p.imgs["learning-curve"].startswith("data:image/png;base64,") and len(p.imgs["learning-curve"]) > 2000
    assert p.imgs["cluster-chart"].startswith("data:image/png;base64,")
    external = [u for u in p.urls if not (u.startswith("data:") or u.startswith("#"))]
    assert external == [], external  # nothing to fetch: opens offline
    assert p.scripts == 1  # ours; the data's "<script>" texts are escaped
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html and "<script>window.__pwned" not in html


def test_the_page_answers_where_round_2s_budget_went(recorded_run):
    html = (recorded_run / "report" / "index.html").read_text(encoding="utf-8")
    names = cluster_names(recorded_run)
    assert names and all(" / " in n for n in names.values()), names  # keyword names
    box = re.search(r'<div class="card answer" id="round-2-top">(.*?)</div>', html, re.S)
    assert box, "no answer box for round 2"
    text = box.group(1)
    top = re.search(r"Most of round 2's budget: cluster (\d+) “([^”]+)”", text)
    assert top and names[int(top.group(1))] == top.group(2).replace("&amp;", "&")
    assert "<b>Why:</b> stage" in text  # the allocation's reason
    state = final_state(recorded_run)
    written = [a for a in state["dataset"] if a.round == 2 and a.cluster == int(top.group(1))]
    assert f"({len(written)} annotation(s) in round 2)" in text
    for a in written:
        assert a.id in text


def test_report_command_rewrites_the_page(run_copy):
    (run_copy / "report" / "index.html").unlink()
    r = CliRunner().invoke(app, ["report", str(run_copy)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert (run_copy / "report" / "index.html").exists() and "index.html" in r.output


def test_chromium_renders_the_page(recorded_run, tmp_path):
    page = (recorded_run / "report" / "index.html").resolve()
    shot = tmp_path / "shot.png"
    res = chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), res.stderr[-2000:]
    import matplotlib.image as mpimg

    pixels = mpimg.imread(str(shot))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1200
    assert float(pixels[..., :3].std()) > 0.05, "the screenshot is blank"

    res = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    dom = parse(res.stdout)
    assert dom.imgs["learning-curve"].startswith("data:image/png;base64,")
    keyword_names = cluster_names(recorded_run).values()
    assert any(name in "".join(dom.plan_text) for name in keyword_names), "no plan table names a cluster by keywords"
    state = final_state(recorded_run)
    assert len(dom.rows) == len(state["dataset"])
    assert sorted(r["data-round"] for r in dom.rows) == sorted(str(a.round) for a in state["dataset"])
    assert dom.scripts == 1, "a text of the data became a script"


def test_chromium_filters_the_dataset(recorded_run, tmp_path):
    page = (recorded_run / "report" / "index.html").resolve()
    state = final_state(recorded_run)
    source = sorted({a.source for a in state["dataset"]})[0]
    res = chromium(tmp_path, "--dump-dom", page.as_uri() + f"#source={source}&round=1")
    dom = parse(res.stdout)
    shown = [r for r in dom.rows if "display: none" not in (r.get("style") or "")]
    expected = [a for a in state["dataset"] if a.source == source and a.round == 1]
    assert len(shown) == len(expected) and len(dom.rows) == len(state["dataset"])
    assert all(r["data-source"] == source and r["data-round"] == "1" for r in shown)


def test_the_page_shows_the_teacher_audit_where_present(recorded_run):
    import json

    from distillgraph.graph.html_report import build_context, render
    from distillgraph.graph.runner import load_run_config
    from distillgraph.graph.trace import read_trace, run_texts

    metrics = json.loads((recorded_run / "report" / "metrics.json").read_text())
    args = (recorded_run, final_state(recorded_run))
    rest = (read_trace(recorded_run), cluster_names(recorded_run), run_texts(load_run_config(recorded_run)))
    assert 'id="audit"' not in render(build_context(*args, {**metrics, "teacher_audit": None}, *rest))
    audit = {"teacher": "stub", "n": 6, "correct": 5, "accuracy": 0.8333, "ci95": [0.436, 0.97],
             "per_label": {"sport": {"n": 3, "accuracy": 1.0, "ci95": [0.44, 1.0]}}, "student_round0_dev_accuracy": 0.61,
             "verdict": "better", "action": "continue", "line": "teacher audit: 5/6 correct <i>"}
    html = render(build_context(*args, {**metrics, "teacher_audit": audit}, *rest))
    section = html[html.index('id="audit"'):html.index('id="weaknesses"')]
    assert "teacher audit: 5/6 correct &lt;i&gt;" in section and "0.833 (0.436–0.970)" in section
    assert "<td>sport</td>" in section and "0.610" in section


def test_a_generation_run_filters_without_labels(recorded_run):
    import json

    from distillgraph.graph.html_report import build_context, render
    from distillgraph.graph.runner import load_run_config
    from distillgraph.graph.trace import read_trace, run_texts

    metrics = json.loads((recorded_run / "report" / "metrics.json").read_text())
    metrics["data"] = {**metrics["data"], "type": "generation"}
    ctx = build_context(recorded_run, final_state(recorded_run), metrics, read_trace(recorded_run),
                        cluster_names(recorded_run), run_texts(load_run_config(recorded_run)))
    assert list(ctx["filters"]) == ["round", "source", "cluster"] and ctx["target"] == "output"
    assert "<th>output</th>" in render(ctx) and 'data-filter="label"' not in render(ctx)
