"""A tiny document model rendered to both Markdown and a self-contained HTML page.

The report is built once as a list of blocks, then written twice, so report.md and report.html
always say the same thing. Inline markup supported: ``**bold**`` and backquoted code.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px}
td{text-align:right}td:first-child{text-align:left}th{background:#f2f2f2}img{max-width:100%}
pre{background:#f6f6f6;padding:0.8em;overflow-x:auto}code{background:#f6f6f6}figure{margin:1em 0}"""


@dataclass
class Document:
    """An ordered list of blocks: headings, paragraphs, lists, tables, images, code."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, markdown: str) -> None:
        """A table given as the Markdown text that ``videoabnn.report.tables`` produces."""
        self.blocks.append(("table", markdown))

    def image(self, path: str, caption: str, link: str | None = None) -> None:
        self.blocks.append(("img", path, caption, link))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def to_markdown(self) -> str:
        """The document as Markdown."""
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out += ["#" * block[1] + " " + block[2], ""]
            elif kind == "p":
                out += [block[1], ""]
            elif kind == "ul":
                out += [f"- {item}" for item in block[1]] + [""]
            elif kind == "table":
                out += [block[1], ""]
            elif kind == "img":
                _, path, caption, link = block
                img = f"![{caption}]({path})"
                out += [f"[{img}]({link})" if link else img, "", f"*{caption}*", ""]
            elif kind == "code":
                out += ["```", block[1].rstrip("\n"), "```", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        """The document as one HTML page (images referenced by relative path)."""
        body = [f"<h1>{_inline(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                body.append(table_html(block[1]))
            elif kind == "img":
                _, path, caption, link = block
                img = f'<img src="{html.escape(path)}" alt="{html.escape(caption)}">'
                if link:
                    img = f'<a href="{html.escape(link)}">{img}</a>'
                body.append(f"<figure>{img}<figcaption>{_inline(caption)}</figcaption></figure>")
            elif kind == "code":
                body.append(f"<pre>{html.escape(block[1])}</pre>")
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head><body>\n"
                + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _cells(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [p.strip().replace("\\|", "|") for p in parts[1:-1]]


def table_html(markdown: str) -> str:
    """Convert a Markdown table (header, separator, rows) to an HTML table."""
    lines = [ln for ln in markdown.strip().splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ValueError("a Markdown table needs a header and a separator line")
    head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(lines[0]))
    rows = ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(ln)) + "</tr>" for ln in lines[2:]]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def optional_section(doc: Document, data: Any, add: Callable[..., None], tolerance: float) -> bool:
    """``add(doc, data, tolerance)`` when a study stage left ``data`` (None: it did not run); whether it did."""
    if data is None:
        return False
    add(doc, data, tolerance)
    return True


def standalone_markdown(path: str | os.PathLike, title: str, data: Any, add: Callable[..., None],
                        tolerance: float) -> Path | None:
    """A section as a document of its own at ``path`` (None when ``data`` is None), written atomically."""
    from videoabnn.utils.io import atomic_write_text

    if data is None:
        return None
    doc = Document(title)
    add(doc, data, tolerance)
    doc.blocks.pop(0)  # the title already heads the document
    return atomic_write_text(path, doc.to_markdown())
