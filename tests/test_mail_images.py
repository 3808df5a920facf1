"""Charts as PNG for the mail (dashboard/mail/images.py), drawn by the real Debian Chromium."""

from __future__ import annotations

import io
import os
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from dashboard.charts import theme
from dashboard.mail import images

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(
    not os.access(os.environ.get("BROWSER_PATH") or images.DEBIAN_CHROMIUM, os.X_OK),
    reason="needs Chromium: apt-get install -y chromium",
)


@pytest.fixture(scope="module", autouse=True)
def no_browser_left() -> Iterator[None]:
    images.stop()
    yield
    images.stop()


def chart() -> go.Figure:
    """A chart as the screen draws it: transparent, with the dashboard's theme."""
    bars = go.Figure(go.Bar(x=["Alpha", "Beta", "Gamma"], y=[3, 5, 2], name="Actions"))
    return theme.themed(bars, "Actions per venture")


def pixel_size(data: bytes) -> tuple[int, int]:
    # The first chunk of every PNG is IHDR: length, type, then width and height (big-endian).
    assert data[:8] == PNG_SIGNATURE
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, kind) == (13, b"IHDR")
    return width, height


def session_processes(leader: int) -> list[int]:
    """Live processes of the browser's session (choreographer starts it with a session of its
    own, so Chromium and every helper it forks are in it); zombies are already dead."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session == leader and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until_gone(leader: int, within_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while (left := session_processes(leader)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_png_has_the_requested_pixels_on_white() -> None:
    started = time.perf_counter()
    first = images.png(chart())
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    double = images.png(chart(), width=600, height=300, scale=2)
    warm_s = time.perf_counter() - started
    print(f"\nfirst render (starts Chromium) {cold_s:.2f} s, a later one {warm_s:.2f} s")

    # The themed figure asks for 440 px of height; the caller's size wins.
    assert pixel_size(first) == (720, 400)
    assert pixel_size(double) == (1200, 600)
    picture = Image.open(io.BytesIO(first)).convert("RGB")
    assert picture.getpixel((2, 2)) == (255, 255, 255)  # the mail's white, not transparency


def test_renders_in_a_row_reuse_one_browser() -> None:
    images.png(chart())
    leader = images.browser_pid()
    assert leader is not None
    chromium = [p for p in session_processes(leader) if p != leader]
    assert chromium, "no Chromium under kaleido's launcher"
    # The browser process itself (its helpers, renderers above all, come and go as it likes).
    command_lines = {p: Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0") for p in chromium}
    browser = next(
        p for p, c in command_lines.items() if not any(a.startswith(b"--type=") for a in c)
    )
    for _ in range(2):
        started = time.perf_counter()
        assert images.png(chart())[:8] == PNG_SIGNATURE
        print(f"\nrender on the running browser {time.perf_counter() - started:.2f} s")
    assert images.browser_pid() == leader
    assert browser in session_processes(leader)

    # The flags that keep Chromium quiet on a closed network, as root.
    for flag in (b"--no-sandbox", b"--disable-background-networking", b"--no-first-run"):
        assert flag in command_lines[browser]


def test_threads_share_the_one_browser() -> None:
    images.png(chart())
    leader = images.browser_pid()
    with ThreadPoolExecutor(max_workers=4) as pool:
        pictures = list(pool.map(lambda _: images.png(chart(), width=300, height=200), range(6)))
    assert [pixel_size(p) for p in pictures] == [(300, 200)] * 6
    assert images.browser_pid() == leader


def test_the_callers_figure_is_left_as_it_was() -> None:
    figure = chart()
    before = figure.to_plotly_json()
    images.png(figure)
    assert figure.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert figure.layout.plot_bgcolor == "rgba(0,0,0,0)"
    assert figure.layout.template == go.Figure().layout.template
    assert figure.to_plotly_json() == before


def test_a_render_past_its_timeout_raises_and_the_next_one_works() -> None:
    images.png(chart())
    leader = images.browser_pid()
    assert leader is not None
    # 200,000 SVG markers take Chromium well over ten seconds here: far past half a second.
    n = 200_000
    rng = np.random.default_rng(0)
    heavy = go.Figure(go.Scatter(x=np.arange(n), y=rng.random(n), mode="markers"))
    started = time.perf_counter()
    with pytest.raises(images.ImageTimeout, match="longer than 0.5 s"):
        images.png(heavy, timeout_s=0.5)
    print(f"\nImageTimeout raised after {time.perf_counter() - started:.2f} s (timeout_s=0.5)")

    # The stuck browser is gone, not left rendering in the background.
    assert images.browser_pid() is None
    assert wait_until_gone(leader) == []
    started = time.perf_counter()
    assert pixel_size(images.png(chart())) == (720, 400)
    print(f"first render after the timeout (new Chromium) {time.perf_counter() - started:.2f} s")
    assert images.browser_pid() not in (None, leader)


def test_stop_ends_every_process_of_the_browser() -> None:
    images.png(chart())
    leader = images.browser_pid()
    assert leader is not None and len(session_processes(leader)) > 1
    images.stop()
    assert images.browser_pid() is None
    assert wait_until_gone(leader) == []
    images.stop()  # stopping a stopped browser is fine


def test_without_chromium_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    images.stop()
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "chromium"))
    with pytest.raises(images.ChromiumMissing, match="apt-get install -y chromium"):
        images.png(chart())
    assert images.browser_pid() is None
