"""The board pack: the digest of the Overview or Venture health on A4 pages, as a PDF.

The same content as the email (dashboard/mail/message.py's HTML, its charts embedded as PNG),
printed by the Chromium that draws the charts, with the filters, the time zone and the page
numbers in each page's header and footer and the data-as-of time in the footer.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import Engine

import queries
from dashboard.charts import format as fmt
from dashboard.mail import digest, message, printing
from queries import Filters, Scope

PAGES = ("overview", "venture-health")
MIME = "application/pdf"


def header(d: digest.Digest) -> str:
    """The filters as each page's header says them."""
    f = d.filters
    parts = [
        f"{d.page_title} · {d.period} · time zone {f.tz}",
        f"Companies: {', '.join(d.company_names) or 'none'}",
    ]
    if f.venture_ids:
        parts.append(f"Ventures: {len(f.venture_ids)} chosen")
    if f.stages:
        parts.append("Stages: " + ", ".join(str(s) for s in f.stages))
    if f.agents:
        parts.append(f"Agents ({f.agents_match} of): " + ", ".join(f.agents))
    return " · ".join(parts)


def pdf(d: digest.Digest) -> bytes:
    """The board pack of a digest."""
    heading = f"{d.page_title}: board pack, {d.period}"
    html = message.html_document(d, message.data_uri, heading=heading)
    made = d.made_at.astimezone(UTC)
    footer = f"Data as of {fmt.day(made)} {made:%H:%M} UTC"
    return printing.pdf(html, header=header(d), footer=footer)


def download(
    engine: Engine, scope: Scope, user_id: str, page: str, f: Filters, file_name: str
) -> bytes:
    """The board pack of the view, made as the signed-in user now, and its audit row."""
    now = datetime.now(UTC)
    d = digest.for_view(engine, scope, page, f, now)
    data = pdf(d)
    receipt = queries.Receipt(
        file_name=file_name,
        filters=queries.filters_record(f),
        time_zone=f.tz,
        data_as_of=now.isoformat(),
        row_count=queries.count_rows(engine, scope, f),
        scope=scope.company_ids,
        sha256=hashlib.sha256(data).hexdigest(),
        user_id=user_id,
    )
    queries.record_export(engine, user_id, "export", receipt)
    return data
