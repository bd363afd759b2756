"""The report as people see it: the e-mail's HTML rendered by headless Chromium at a
phone's width (400 px) and a desktop's (1280 px).

The HTML is taken from the built message itself and its ``cid:`` images replaced by
the message's own inline parts, as a mail client does. For each width: a screenshot that
is not blank, and, measured in the page by a script injected into a copy (the report
itself has none), every image loaded and nothing wider than the window.

Needs Chromium: Debian's ``chromium`` package (``.ci/run`` installs it), or the path
in the CHROMIUM environment variable; skipped, with the reason shown, without it.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from builders import STORE, full_metrics_doc, insights_doc
from customer_pipeline.delivery import build_message
from customer_pipeline.quality import CheckResult
from customer_pipeline.report import Report, RunFacts, build_report
from customer_pipeline.settings import Settings

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
WIDTHS = {"phone": 400, "desktop": 1280}
HEIGHT = 3200  # the report down to its first chart, on a phone too

#: A page that shows the report in a frame exactly `width` pixels wide (Chromium keeps
#: its window at least 500 pixels wide) and, once everything is loaded, measures it: the
#: result is JSON in <pre id="measured">, read back with --dump-dom. The report itself
#: has no script.
PROBE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="report" style="width:{width}px;height:{height}px;border:0" srcdoc="{srcdoc}"></iframe>
<script>
window.addEventListener("load", () => {{
  const frame = document.getElementById("report");
  const doc = frame.contentDocument;
  const width = doc.documentElement.clientWidth;
  const wide = [];
  for (const element of doc.body.querySelectorAll("*")) {{
    const box = element.getBoundingClientRect();
    if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {{
      wide.push(`${{element.tagName}} ${{Math.round(box.left)}}..${{Math.round(box.right)}}`);
    }}
  }}
  const images = [...doc.images].map((img) => ({{
    alt: img.alt, complete: img.complete, natural: img.naturalWidth,
    shown: Math.round(img.getBoundingClientRect().width),
  }}));
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({{
    innerWidth: frame.contentWindow.innerWidth, clientWidth: width,
    scrollWidth: doc.documentElement.scrollWidth, wide: wide.slice(0, 20), images,
    text: doc.body.innerText,
  }});
  document.body.appendChild(out);
}});
</script>
</body></html>
"""


def find_chromium() -> str | None:
    chosen = os.environ.get("CHROMIUM")
    if chosen:
        return chosen if shutil.which(chosen) else None
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip(
            "Chromium not found: install Debian's chromium package (as .ci/run does) "
            "or set CHROMIUM to the browser's path"
        )
    return found


def message_html(report: Report) -> str:
    """The HTML of the built message, its cid: images replaced by the message's own parts."""
    message = email.message_from_bytes(
        build_message(Settings(), report).as_bytes(), policy=email.policy.default
    )
    html = message.get_body(("html",)).get_content()
    images = {
        part["Content-ID"].strip("<>"): part
        for part in message.walk()
        if part.get_content_maintype() == "image"
    }
    referenced = re.findall(r'src="cid:([^"]+)"', html)
    assert sorted(referenced) == sorted(images)  # every reference has its part, and back
    for cid, part in images.items():
        uri = f"data:{part.get_content_type()};base64," + base64.b64encode(
            part.get_content()
        ).decode("ascii")
        html = html.replace(f'src="cid:{cid}"', f'src="{uri}"')
    return html


def typical() -> Report:
    return build_report(
        Settings(),
        full_metrics_doc(),
        [CheckResult("sales within the usual band of a Friday", False, 5.5, "10 to 20", "warning")],
        insights=insights_doc(),
        run=RunFacts({"customers": 1000, "transactions": 12345}, 7, 12.5, "run-1"),
    )


def extreme() -> Report:
    """Billions, long names without spaces, a failed check: still no wider than a phone."""
    long = "Supercalifragilisticexpialidocious-Megastore-International"
    insights = insights_doc()
    stores = (dataclasses.replace(insights.top_stores[0], name=long, sales=98_765_432_109.87),)
    metrics = full_metrics_doc(
        total_sales=123_456_789_012.34,
        transaction_count=1_987_654_321,
        payment_methods={long: {"count": 1_987_654_321, "sales": 123_456_789_012.34}},
    )
    for found in metrics["baselines"].values():  # bands in the billions, every KPI flagged
        found.update(expected=98_765_432_109.87, low=88_765_432_109.87, high=108_765_432_109.87)
        found.update(flag="below", week_over_week=-99.9, year_over_year=-99.9)
    metrics["customers"]["segments"][0]["sales"] = 98_765_432_109.87
    checks = [
        CheckResult(f"check {long}", False, 123_456_789, ">= 987654321"),
        CheckResult(f"warning {long}", False, 123_456_789.5, "1 to 2", "warning"),
    ]
    return build_report(
        Settings(),
        metrics,
        checks,
        insights=dataclasses.replace(insights, top_stores=stores),
        run=RunFacts({"transactions": 1_987_654_321}, 2**62, 98765.4, "x" * 36),
    )


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="report-browser-") as folder:
        paths = {}
        for name, make in (("typical", typical), ("extreme", extreme)):
            paths[name] = Path(folder) / f"{name}.html"
            paths[name].write_text(message_html(make()), encoding="utf-8")
        yield paths


def run_chromium(chromium: str, width: int, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        env = {**os.environ, "HOME": profile, "XDG_CONFIG_HOME": profile}
        env["XDG_CACHE_HOME"] = profile
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{HEIGHT}",
            *args,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.parametrize("device", WIDTHS)
def test_screenshot_is_not_blank(
    chromium: str, pages: dict[str, Path], tmp_path: Path, device: str
) -> None:
    import numpy as np
    from PIL import Image  # Pillow comes with matplotlib

    width = WIDTHS[device]
    shot = tmp_path / f"{device}.png"
    run_chromium(chromium, width, f"--screenshot={shot}", pages["typical"].as_uri())
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
    assert rgb.size == (width, HEIGHT)
    pixels = np.asarray(rgb, dtype=np.int32).reshape(-1, 3)
    background = np.asarray(rgb.getpixel((0, HEIGHT - 1)), dtype=np.int32)
    painted = np.any(pixels != background, axis=1).mean()
    assert painted > 0.3, f"{painted:.0%} of the screenshot differs from the background"
    dark = (pixels.sum(axis=1) < 200).mean()
    assert dark > 0.005, "no text to be seen"
    r, g, b = pixels.T
    assert ((b > 200) & (r < 80) & (g < 140)).sum() > 200, "no chart's highlighted bar on screen"
    assert len(rgb.getcolors(1 << 20) or []) > 50  # anti-aliased text, charts


def measure(chromium: str, report: str, width: int, folder: Path) -> dict:
    """The report laid out `width` pixels wide, as measured in the page once loaded."""
    probe = folder / f"measure-{width}.html"
    probe.write_text(
        PROBE.format(width=width, height=HEIGHT, srcdoc=html.escape(report, quote=True)),
        encoding="utf-8",
    )
    done = run_chromium(
        chromium, max(width, 500) + 20, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    measured = json.loads(html.unescape(found.group(1)))
    assert measured["innerWidth"] == width
    return measured


@pytest.mark.parametrize("variant", ["typical", "extreme"])
@pytest.mark.parametrize("device", WIDTHS)
def test_images_load_and_nothing_is_wider_than_the_window(
    chromium: str, pages: dict[str, Path], tmp_path: Path, device: str, variant: str
) -> None:
    width = WIDTHS[device]
    measured = measure(chromium, pages[variant].read_text(encoding="utf-8"), width, tmp_path)
    assert measured["scrollWidth"] <= measured["clientWidth"], measured
    assert measured["wide"] == []
    images = measured["images"]
    assert len(images) == 2
    for image in images:
        assert image["complete"] and image["natural"] > 0, f"broken image: {image}"
        assert 0 < image["shown"] <= min(width, 600)
    assert "Total sales" in measured["text"]
    if variant == "typical":  # the page reads the real names, escaped in the HTML
        assert STORE in measured["text"]


def test_the_measure_sees_overflow_and_broken_images(chromium: str, tmp_path: Path) -> None:
    """The checks above can fail: a fixed-width table and a missing image are caught."""
    bad = (
        '<table width="560"><tr><td>wide</td></tr></table>'
        '<img src="cid:missing@x" width="100" alt="missing">'
    )
    measured = measure(chromium, f"<html><body>{bad}</body></html>", 400, tmp_path)
    assert measured["scrollWidth"] > measured["clientWidth"]
    assert any(item.startswith("TABLE") for item in measured["wide"])
    (image,) = measured["images"]
    assert image["natural"] == 0
