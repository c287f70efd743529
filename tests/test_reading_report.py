"""The HTML report and its Markdown twin (``bfcbench report``), opened in a real
headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from conftest import run_cli
from synthetic import power_law_rows, row, write_store

from bfcbench.reading.report import write_report
from bfcbench.reading.results import load

HOSTILE_LEARNER = '<script>alert("x")</script>&amp;|$x$'
HOSTILE_TASK_VALUE = "<b>bold</b> & 'quoted' $5"

# Written into a copy of the page: after load, every image's state goes into the
# DOM, which --dump-dom prints.
IMAGE_PROBE = """<script>
window.addEventListener("load", function () {
  var lines = [];
  for (var i = 0; i < document.images.length; i++) {
    var image = document.images[i];
    lines.push(image.complete + " " + image.naturalWidth + " " + image.naturalHeight);
  }
  var out = document.createElement("pre");
  out.id = "image-probe";
  out.textContent = lines.join("\\n");
  document.body.appendChild(out);
});
</script>"""

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
)


def curve(levels, steps=(100, 200, 300), start=0.2):
    return [
        (step, level, min(1.0, start + 0.2 * index / level))
        for index, step in enumerate(steps)
        for level in range(1, levels + 1)
    ]


@pytest.fixture
def report_store(store_path):
    rows = [
        *power_law_rows("deep", 20.0, 0.8),
        *power_law_rows("layerwise", 5.0, 0.5),
        *power_law_rows("kernel-poly", 1.0, 0.1),
        row("two-layer", 500, 0, status="diverged", message="loss became nan <at> 12"),
        *power_law_rows(
            "two-layer",
            2.0,
            0.3,
            grid=(2000, 8000),
            learner_label=HOSTILE_LEARNER,
        ),
    ]
    # curves for deep and layerwise runs at n = 8000
    curves = {
        index: curve(2, start=0.3 if values["learner"] == "deep" else 0.1)
        for index, values in enumerate(rows)
        if values["learner"] in ("deep", "layerwise") and values["n_train"] == 8000
    }
    for values in rows:
        values["task_params"] = {**values["task_params"], "note": HOSTILE_TASK_VALUE}
    return write_store(store_path, rows, curves)


def test_report_files_figures_and_escaping(report_store, tmp_path):
    written = write_report(load(report_store), tmp_path / "report", eps=(0.1, 0.02))
    page = written["html"].read_text()
    markdown = written["markdown"].read_text()
    figures = sorted(p.name for p in written["figures"].iterdir())
    assert [re.sub(r"fig-\d+-", "", name) for name in figures] == [
        "learning-curves.png",
        "fit-time.png",
        "samples.png",
        "feature-recovery.png",
    ]
    # every figure embedded once in the page, referenced once in the twin
    assert page.count('<img src="data:image/png;base64,') == len(figures)
    for name in figures:
        assert markdown.count(f"(figures/{name})") == 1
    # self-contained: nothing is loaded from elsewhere
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    # names and parameter strings escaped, never raw
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;|$x$" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#x27;quoted&#x27; $5" in page
    assert "loss became nan &lt;at&gt; 12" in page
    assert r'\<script\>alert("x")\</script\>\&amp;\|\$x\$' in markdown
    assert "<script>" not in markdown


def test_no_curves_no_feature_recovery_figure(store_path, tmp_path):
    write_store(store_path, power_law_rows("deep", 20.0, 0.8))
    written = write_report(load(store_path), tmp_path / "report")
    names = [p.name for p in written["figures"].iterdir()]
    assert not any("feature-recovery" in name for name in names)
    assert len(names) == 3


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def test_every_figure_loads_in_headless_chromium(report_store, tmp_path):
    browser = chromium()
    result = run_cli(
        "report", "--store", str(report_store), "--out", str(tmp_path / "report")
    )
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    probe = tmp_path / "report" / "probe.html"
    probe.write_text(page.replace("</body>", IMAGE_PROBE + "</body>"))
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    shown = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    match = re.search(r'<pre id="image-probe">(.*?)</pre>', shown.stdout, re.S)
    assert match, shown.stdout[-2000:]
    states = [line.split() for line in match.group(1).strip().splitlines()]
    assert len(states) == page.count("<img ") == 4
    for complete, width, height in states:
        assert complete == "true"
        assert int(width) > 300 and int(height) > 200
    # the hostile label arrived in the DOM as text, not as an element
    assert "<script>alert" not in shown.stdout.split('<pre id="image-probe">')[0]


def test_identical_curves_stay_distinguishable_and_labels_sit_off_the_data():
    from bfcbench.reading import figures
    from bfcbench.reading.results import Labeller

    rows = power_law_rows("mean", 1.0, 0.0, jitter=0.0)
    rows += power_law_rows("linear", 1.0, 0.0, jitter=0.0)
    figure = figures.metric_against_n(
        rows,
        Labeller.of(rows),
        "test_nmse",
        "t",
        "test NMSE",
        eps=(0.1, 0.03),
        reference_line=1.0,
    )
    axes = figure.axes[0]
    learners = [x for x in axes.get_lines() if not x.get_label().startswith("_")]
    first, second = learners
    assert [first.get_label(), second.get_label()] == ["mean", "linear"]
    assert list(first.get_ydata()) == list(second.get_ydata())
    # The same curve twice: drawn differently, the first listed on top.
    assert first.get_linestyle() != second.get_linestyle()
    assert first.get_zorder() > second.get_zorder()
    # Reference lines are named on a second axis, not by text over the data.
    assert len(axes.texts) == 0
    (named,) = axes.child_axes
    labels = [tick.get_text() for tick in named.get_yticklabels()]
    assert labels == ["predicting the mean", "eps = 0.1", "eps = 0.03"]


def test_bad_out_and_eps_are_refused_before_any_work(report_store, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    cases = [
        (["--out", str(a_file)], f"--out: got {str(a_file)!r}, but"),
        (["--out", str(a_file / "sub")], "is a file; allowed: a new or existing"),
        (["--out", str(tmp_path / "r"), "--eps", "0"], "--eps: got 0.0; allowed"),
    ]
    for extra, expected in cases:
        result = run_cli("report", "--store", str(report_store), *extra)
        assert result.returncode == 2, result.stderr
        # One line: no matplotlib warning from figures drawn before the check.
        (line,) = result.stderr.splitlines()
        assert expected in line
    assert a_file.read_text() == "keep me\n"
    assert not (tmp_path / "r").exists()
