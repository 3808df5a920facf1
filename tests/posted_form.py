"""The self-submitting form that the sign-in gate draws (dashboard/ui/auth.py ``_post``): where it
posts and what, read from the drawn HTML as a browser would."""

from __future__ import annotations

from html.parser import HTMLParser


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action, self.method = found.get("action"), found.get("method", "get").lower()
        elif tag == "input" and self.action is not None and found.get("type") == "hidden":
            self.fields[found.get("name", "")] = found.get("value", "")


def posted_form(body: str) -> tuple[str, dict[str, str]] | None:
    """(action, fields) of the POST form in ``body``, if it holds one."""
    form = _Form()
    form.feed(body)
    if form.action is None or form.method != "post":
        return None
    return form.action, form.fields
