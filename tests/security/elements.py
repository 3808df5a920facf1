"""What a page sent to the browser, whichever way it was drawn (AppTest or a real websocket), and
whose data is in it.

A :class:`Snapshot` holds every element's protobuf message, decoded: the frames of dataframes,
the figure JSON of Plotly charts, metric values, the options of every select widget, the bytes
of every download, links and texts. :func:`owners` then finds every world name and id anywhere
in it and says to which company each belongs; the tests compare that with the user's scope as
the database's owner reads it.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from streamlit import dataframe_util
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.Dataframe_pb2 import Dataframe
from streamlit.proto.DownloadButton_pb2 import DownloadButton
from streamlit.proto.Exception_pb2 import Exception as ExceptionProto
from streamlit.proto.Heading_pb2 import Heading
from streamlit.proto.LinkButton_pb2 import LinkButton
from streamlit.proto.Markdown_pb2 import Markdown
from streamlit.proto.Metric_pb2 import Metric
from streamlit.proto.PlotlyChart_pb2 import PlotlyChart

from security.world import World

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MD_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
# Shorter names ("+1", "-2+3") are matched only as whole values: "+1" is also in "+1.5 %".
_MIN_CONTAINED = 6
NO_COMPANY = "(no company)"


@dataclass
class Download:
    file_name: str
    data: bytes


@dataclass
class Snapshot:
    """One drawn page."""

    messages: list[Message] = field(default_factory=list)
    frames: list[pd.DataFrame] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[Download] = field(default_factory=list)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]

    def alerts(self, level: str) -> list[str]:
        wanted = Alert.Format.Value(level.upper())
        return [a.body for a in self.of(Alert) if a.format == wanted]

    @property
    def exceptions(self) -> list[str]:
        return [f"{e.type}: {e.message}" for e in self.of(ExceptionProto)]

    @property
    def titles(self) -> list[str]:
        return [h.body for h in self.of(Heading) if h.tag == "h1"]

    @property
    def metrics(self) -> dict[str, str]:
        return {m.label: m.body for m in self.of(Metric)}

    @property
    def links(self) -> list[str]:
        return [link.url for link in self.of(LinkButton)]

    def options(self, label: str) -> list[str]:
        found = [m for m in self.messages if getattr(m, "label", None) == label]
        return [str(o) for m in found for o in getattr(m, "options", [])]

    def download(self, stem: str) -> Download:
        """The in-page download whose file name starts with ``stem`` (``kpis``, ...)."""
        found = [d for d in self.downloads if d.file_name.startswith(stem + "_")]
        assert len(found) == 1, [d.file_name for d in self.downloads]
        return found[0]

    def markdown(self) -> list[str]:
        """Every text the browser renders as Markdown: where a name could become HTML."""
        texts = [m.body for m in self.of(Markdown)] + [h.body for h in self.of(Heading)]
        return texts + [a.body for a in self.of(Alert)]

    def strings(self) -> Iterator[str]:
        """Every text value sent to the browser, one at a time (cells, options, labels, ...)."""
        for message in self.messages:
            if isinstance(message, Dataframe | DownloadButton):
                # The frame and the file are read below, decoded; their bytes are not text.
                yield from texts_in(MessageToDict(message, preserving_proto_field_name=True),
                                    skip={"arrow_data", "lazy_data"})  # fmt: skip
            else:
                yield from texts_in(MessageToDict(message, preserving_proto_field_name=True))
        for frame in self.frames:
            yield from map(str, frame.columns)
            for column in frame.columns:
                yield from (str(v) for v in frame[column] if isinstance(v, str))
        for chart in self.charts:
            yield from texts_in(chart)
        for download in self.downloads:
            yield download.file_name
            for record in read_csv(download.data):
                yield from record


def texts_in(value: Any, skip: frozenset[str] | set[str] = frozenset()) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from texts_in(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from texts_in(item, skip)


def read_csv(data: bytes) -> list[list[str]]:
    """Records as a CSV reader sees them (a BOM, as spreadsheets write it, is skipped)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def snapshot(messages: Iterable[Message], fetch: Callable[[str], Download]) -> Snapshot:
    """Decode the messages of one page; ``fetch(url)`` returns a download button's file."""
    shot = Snapshot(messages=list(messages))
    for message in shot.messages:
        if isinstance(message, Dataframe):
            data = message.arrow_data.data or message.lazy_data.initial_chunk.data
            shot.frames.append(dataframe_util.convert_arrow_bytes_to_pandas_df(data))
        elif isinstance(message, PlotlyChart):
            shot.charts.append(json.loads(message.spec))
        elif isinstance(message, DownloadButton) and message.url:
            # A button without a file yet is made on click (`Download PDF`): the board pack's
            # own tests read what it holds (tests/test_board_pack.py).
            shot.downloads.append(fetch(message.url))
    return shot


# ---- whose data is on the page ---------------------------------------------------------------


def plain(text: str) -> str:
    """A text as a reader sees it: entities and Markdown escapes undone, a CSV's ' prefix
    removed, white space collapsed as Markdown does."""
    text = _MD_ESCAPED.sub(r"\1", html.unescape(text))
    return " ".join(text.removeprefix("'").split())


@dataclass
class Owners:
    """The companies whose names or ids a page shows (None: rows of no company)."""

    by_name: dict[str, set[str | None]] = field(default_factory=dict)  # name -> companies
    by_id: dict[str, str | None] = field(default_factory=dict)  # id -> company
    unknown_ids: set[str] = field(default_factory=set)

    @property
    def companies(self) -> set[str | None]:
        found: set[str | None] = set(self.by_id.values())
        for owners in self.by_name.values():
            found |= owners
        return found


def mentions(text: str, name: str) -> bool:
    """Whether a text (already :func:`plain`) shows a name (also plain)."""
    return text == name or (len(name) >= _MIN_CONTAINED and name in text)


def mentioned(texts: Iterable[str], names: Iterable[str]) -> set[str]:
    """The names (as given) that any of the texts shows."""
    plain_texts = {plain(t) for t in texts}
    return {n for n in names if any(mentions(t, plain(n)) for t in plain_texts)}


def owners(shot: Snapshot, world: World) -> Owners:
    names = {plain(name): company for name, company in world.company_of_name().items()}
    names[NO_COMPANY] = None
    ids = world.company_of_id()
    found = Owners()
    for raw in shot.strings():
        text = plain(raw)
        for name, company in names.items():
            if mentions(text, name):
                found.by_name.setdefault(name, set()).add(company)
        for match in UUID.findall(raw):
            key = match.lower()
            if key in ids:
                found.by_id[key] = ids[key]
            else:
                found.unknown_ids.add(key)
    return found


def fingerprint(shot: Snapshot, replace: dict[str, str]) -> list[str]:
    """Everything the page sent, as text, with ``replace`` applied to every text, and export
    tokens (signed with a time stamp) and deferred downloads' ids blanked: equal fingerprints are
    pages that look alike."""

    def replaced(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in replace.items():
                value = value.replace(old, new)
            return re.sub(r"(token|link)=[\w.\-%]+", r"\1=…", value)
        if isinstance(value, dict):
            # A deferred download's id is new on every run, like a token.
            return {
                key: "…" if key == "deferredFileId" else replaced(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [replaced(item) for item in value]
        return value

    return [
        json.dumps(replaced(MessageToDict(message)), sort_keys=True, ensure_ascii=False)
        for message in shot.messages
    ]


def has_html(shot: Snapshot) -> bool:
    """Whether a Markdown text lets a tag or a link through, or a figure carries markup."""
    tag = re.compile(r"(?<!\\)<\s*(img|svg|script|a|iframe)\b", re.IGNORECASE)
    link = re.compile(r"(?<!\\)\]\((?!\\)")
    for body in shot.markdown():
        if tag.search(body) or link.search(body):
            return True
    markup = re.compile(r"<\s*(img|svg|script|a|iframe)\b|href", re.IGNORECASE)
    return any(markup.search(text) for chart in shot.charts for text in texts_in(chart))
