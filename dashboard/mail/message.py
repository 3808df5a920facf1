"""A digest as an email: HTML with a plain-text part, its charts as inline PNG images, its tables
as formula-safe CSV attachments, and links that open the dashboard on the same view.

:func:`html_document` is the HTML body, shared with the board pack (which embeds the images as
data URIs rather than parts of the message). Every name from the database is escaped in HTML and
neutral in the CSV (dashboard/charts/csv_file.py); low-confidence figures say so as on the pages.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape
from zoneinfo import ZoneInfo

import pandas as pd

from dashboard.charts import confidence
from dashboard.charts import format as fmt
from dashboard.charts.csv_file import to_csv
from dashboard.mail import images
from dashboard.mail.digest import Digest, Tile
from dashboard.mail.page_charts import Chart

IMAGE_WIDTH, IMAGE_HEIGHT = 720, 400
# The columns of the two rankings a message shows (the attachments hold them all).
RANKED = ("Venture", "Company", "Reason")
FADED_NOTE = "Faded points are built mostly from low-confidence rows."
_STYLE = (
    "body{font-family:Helvetica,Arial,sans-serif;color:#1f2330;max-width:760px}"
    "table{border-collapse:collapse;margin:8px 0 16px}"
    "th,td{border-bottom:1px solid #d9dce3;padding:4px 8px;text-align:left;font-size:14px}"
    ".worse{color:#b42318}.better{color:#1a7f37}.note{color:#5c6070;font-size:13px}"
    "img{max-width:100%;height:auto}"
)

ImageSource = Callable[[Chart], str]


def subject(digest: Digest, every: str) -> str:
    when = "Weekly" if every == "week" else "Daily"
    return f"{when} digest: {digest.page_title}, {digest.period}"


def html_document(digest: Digest, image_src: ImageSource, *, heading: str) -> str:
    """The digest as an HTML document; ``image_src(chart)`` gives each image's URL."""
    parts = [
        f"<h1>{escape(heading)}</h1>",
        f"<p>{escape(_scope_line(digest))}</p>",
        f'<p><a href="{escape(digest.link)}">Open this view in the dashboard</a></p>',
        *(f'<p class="note">{escape(note)}</p>' for note in digest.notes),
        "<h2>Key figures</h2>",
        _tiles_html(digest.tiles),
        "<h2>Ventures that most need attention</h2>",
        _ranking_html(digest.attention, "No venture stands out in this period."),
        "<h2>What changed</h2>",
        _ranking_html(digest.changes, "No venture had enough activity in both periods."),
    ]
    for chart in digest.charts:
        parts.append(f"<h2>{escape(chart.title)}</h2>")
        if chart.table.empty:
            parts.append('<p class="note">No data for this chart in this period.</p>')
            continue
        parts.append(f'<img src="{escape(image_src(chart))}" alt="{escape(chart.title)}">')
        if _faded(chart.table):
            parts.append(f'<p class="note">{escape(FADED_NOTE)}</p>')
        parts.append(f'<p class="note">{escape(_figures_line(chart))}</p>')
    parts.append(
        f'<p class="note">Computed for you at {escape(_made(digest))}, with the access you had '
        "then. The attached CSV files hold every table of this message.</p>"
    )
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><style>{_STYLE}</style>'
        f"<title>{escape(heading)}</title></head><body>{body}</body></html>"
    )


def text_body(digest: Digest, heading: str) -> str:
    lines = [heading, _scope_line(digest), f"Open this view: {digest.link}", ""]
    lines += list(digest.notes)
    lines += ["", "Key figures"]
    lines += [f"  {_tile_text(tile)}" for tile in digest.tiles]
    for title, table in (
        ("Ventures that most need attention", digest.attention),
        ("What changed", digest.changes),
    ):
        lines += ["", title]
        lines += [f"  {' · '.join(row)}" for row in _ranked_rows(table)] or ["  (none)"]
    for chart in digest.charts:
        lines += ["", f"{chart.title}: {_figures_line(chart)}"]
        if _faded(chart.table):
            lines.append(f"  {FADED_NOTE}")
    lines += ["", f"Computed for you at {_made(digest)}. The CSV files hold every table."]
    return "\n".join(lines) + "\n"


def email_message(digest: Digest, *, to: str, every: str, message_id: str) -> EmailMessage:
    """The whole message; ``message_id`` is fixed by the caller so that a retry keeps it."""
    heading = subject(digest, every)
    message = EmailMessage()
    message["Subject"] = heading
    message["To"] = to
    message["Message-ID"] = message_id
    message.set_content(text_body(digest, heading))
    cids = {chart.slug: make_msgid(domain="orchdash.digest") for chart in digest.charts}
    message.add_alternative(
        html_document(digest, lambda chart: "cid:" + cids[chart.slug][1:-1], heading=heading),
        subtype="html",
    )
    html_part = message.get_body(("html",))
    assert html_part is not None  # just added
    for chart in digest.charts:
        if not chart.table.empty:
            html_part.add_related(
                chart_png(chart), "image", "png", cid=cids[chart.slug], filename=f"{chart.slug}.png"
            )
    for name, table in digest.tables().items():
        message.add_attachment(to_csv(table), maintype="text", subtype="csv", filename=name)
    return message


def chart_png(chart: Chart) -> bytes:
    return images.png(chart.figure, width=IMAGE_WIDTH, height=IMAGE_HEIGHT)


def data_uri(chart: Chart) -> str:
    """A chart's image inside the document itself (the board pack has no parts to refer to)."""
    return "data:image/png;base64," + base64.b64encode(chart_png(chart)).decode("ascii")


def _scope_line(digest: Digest) -> str:
    names = ", ".join(digest.company_names) or "no company"
    return f"{digest.period} · time zone {digest.filters.tz} · {names}"


def _made(digest: Digest) -> str:
    made = digest.made_at.astimezone(ZoneInfo(digest.filters.tz))
    return f"{fmt.day(made)} {made:%H:%M} ({digest.filters.tz})"


def _tile_text(tile: Tile) -> str:
    change = f" ({tile.delta} vs {tile.previous}{', ' + tile.verdict if tile.verdict else ''})"
    return f"{tile.label}: {tile.value}" + (change if tile.delta else "")


def _tiles_html(shown: Iterable[Tile]) -> str:
    rows = []
    for tile in shown:
        verdict = f' <span class="{tile.verdict}">{tile.verdict}</span>' if tile.verdict else ""
        rows.append(
            f"<tr><td>{escape(tile.label)}</td><td><b>{escape(tile.value)}</b></td>"
            f"<td>{escape(tile.delta or fmt.NO_VALUE)}{verdict}</td>"
            f"<td>{escape(tile.previous)}</td></tr>"
        )
    head = "<tr><th>Measure</th><th>This period</th><th>Change</th><th>Previous period</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _ranked_rows(table: pd.DataFrame) -> list[list[str]]:
    return [
        [fmt.NO_VALUE if fmt.is_missing(v) else str(v) for v in row]
        for row in table[list(RANKED)].itertuples(index=False)
    ]


def _ranking_html(table: pd.DataFrame, empty: str) -> str:
    rows = _ranked_rows(table)
    if not rows:
        return f'<p class="note">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(name)}</th>" for name in RANKED)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _faded(table: pd.DataFrame) -> bool:
    return bool(confidence.faded(table).any())


def _figures_line(chart: Chart) -> str:
    return f"{fmt.number(len(chart.table))} rows of figures, in the attached {chart.slug} CSV."
