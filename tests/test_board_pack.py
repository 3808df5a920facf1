"""The board pack (issue #18, item 6): the Overview's and Venture health's digest on A4 pages,
made as the signed-in user, read back with pypdf, and recorded in the export audit."""

from __future__ import annotations

import hashlib
import io
from datetime import date

import metrics_world as mw
import pytest
from mail_world import owner_fixture, scope  # noqa: F401
from pypdf import PdfReader
from sqlalchemy import Engine

import queries
from dashboard.mail import board_pack
from queries import Filters

VIEW = Filters(start=date(2026, 2, 1), end=date(2026, 3, 20), stages=(3, 4, 5), tz="UTC")


@pytest.mark.parametrize(
    ("page", "title"), [("overview", "Overview"), ("venture-health", "Venture health")]
)
def test_the_board_pack_of_a_view(
    world_app: Engine, owner: Engine, world: mw.World, page: str, title: str
) -> None:
    s = scope(world, "multi")
    name = f"{page}_2026-02-01_2026-03-20.pdf"
    data = board_pack.download(world_app, s, s.user_id, page, VIEW, name)
    pdf = PdfReader(io.BytesIO(data))
    pages = [" ".join(p.extract_text().split()) for p in pdf.pages]
    assert pdf.pages[0].mediabox.width == pytest.approx(595, abs=1)
    first = pages[0]
    assert f"{title}: board pack, 1 Feb 2026 – 20 Mar 2026" in first
    assert "time zone UTC" in first and "Stages: 3, 4, 5" in first and "Key figures" in first
    assert "Data as of " in first
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
    allowed = {world.company_names[c] for c in world.active(s.user_id)}
    for other in set(world.company_names.values()) - allowed:
        assert all(other not in text for text in pages), other
    if page == "venture-health":
        assert any(p.images for p in pdf.pages)  # the heatmap
    # Recorded like a CSV extract, with the hash of the very bytes downloaded.
    audit = queries.my_exports(world_app, s)
    mine = audit[audit["file_name"] == name]
    assert list(mine["sha256"]) == [hashlib.sha256(data).hexdigest()]
    assert list(mine["action"]) == ["export"]
