"""The pages of the payload benchmark's real screenshots, as HTML (see real_screens.py).

Each builder returns (document, device scale). The text comes from this repository: its README,
its commit log, two of its source files, statistics of its files. Every page carries a script
that, when the page is opened with ``#words``, lists the words wholly inside the screenshot.
"""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PHOTO = Path("/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg")
SIZE = (3840, 2160)

GITHUB_CSS = """
body { margin: 0; background: #fff; color: #1f2328;
  font: 16px/1.5 "Noto Sans", "Liberation Sans", "DejaVu Sans", sans-serif; }
.top { background: #f6f8fa; border-bottom: 1px solid #d0d7de; padding: 16px 32px;
  font-size: 14px; }
.top b { font-size: 20px; font-weight: 600; }
.tabs { margin-top: 12px; }
.tabs span { margin-right: 24px; }
.tabs .on { border-bottom: 2px solid #fd8c73; padding-bottom: 8px; font-weight: 600; }
.page { display: flex; gap: 24px; max-width: 1280px; margin: 24px auto; padding: 0 32px; }
.main { flex: 1; min-width: 0; }
.side { width: 296px; font-size: 14px; }
.side h2 { font-size: 16px; margin: 0 0 8px; }
.box { border: 1px solid #d0d7de; border-radius: 6px; }
.boxhead { padding: 8px 16px; border-bottom: 1px solid #d0d7de; font-size: 14px;
  font-weight: 600; }
.markdown-body { padding: 32px; }
.markdown-body h1, .markdown-body h2 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
.markdown-body h1 { font-size: 2em; margin: 0 0 16px; font-weight: 600; }
.markdown-body h2 { font-size: 1.5em; margin: 24px 0 16px; font-weight: 600; }
.markdown-body h3 { font-size: 1.25em; margin: 24px 0 16px; font-weight: 600; }
.markdown-body p, .markdown-body ul, .markdown-body table, .markdown-body pre { margin: 0 0 16px; }
.markdown-body a { color: #0969da; text-decoration: none; }
.markdown-body code { font: 85%/1.45 "DejaVu Sans Mono", "Liberation Mono", monospace;
  background: rgba(129, 139, 152, .12); border-radius: 6px; padding: .2em .4em; }
.markdown-body pre { background: #f6f8fa; border-radius: 6px; padding: 16px; overflow: hidden; }
.markdown-body pre code { background: none; padding: 0; font-size: 85%; }
.markdown-body table { border-collapse: collapse; }
.markdown-body td, .markdown-body th { border: 1px solid #d1d9e0; padding: 6px 13px; }
.markdown-body img { max-width: 100%; }
"""

ARTICLE_CSS = """
body { margin: 0; background: #fbfaf7; color: #222;
  font: 19px/1.6 "DejaVu Serif", "Liberation Serif", serif; }
header { background: #8b1a1a; color: #fff; padding: 14px 48px;
  font: 600 22px "Noto Sans", "DejaVu Sans", sans-serif; }
header span { font-weight: 400; font-size: 16px; margin-left: 32px; }
article { max-width: 1180px; margin: 32px auto; }
h1 { font: 700 44px/1.2 "Noto Sans", "DejaVu Sans", sans-serif; margin: 0 0 12px; }
.byline { font: 15px "Noto Sans", "DejaVu Sans", sans-serif; color: #666; margin-bottom: 24px; }
figure { margin: 0 0 24px; }
figcaption { font: italic 15px "Noto Sans", "DejaVu Sans", sans-serif; color: #555; }
.cols { column-count: 2; column-gap: 40px; }
.cols p { margin: 0 0 14px; }
"""

TABLE_CSS = """
body { margin: 0; background: #fff; color: #202124;
  font: 13px/1.4 "Liberation Sans", "Noto Sans", sans-serif; }
.bar { background: #1a73e8; color: #fff; padding: 10px 16px; font-size: 16px; }
.formula { border-bottom: 1px solid #dadce0; padding: 6px 16px; color: #444; }
table { border-collapse: collapse; margin: 0; }
th { background: #f1f3f4; font-weight: 600; text-align: left; }
td, th { border: 1px solid #dadce0; padding: 3px 10px; white-space: nowrap; }
td code { font: 12px "DejaVu Sans Mono", monospace; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f8f9fa; }
"""

CHANGELOG_CSS = """
body { margin: 0; background: #fff; color: #24292f;
  font: 15px/1.55 "Noto Sans", "DejaVu Sans", sans-serif; }
.nav { position: absolute; left: 0; top: 0; width: 260px; padding: 24px 28px;
  background: #f6f8fa; border-right: 1px solid #d0d7de; height: 1680px; color: #57606a; }
.nav b { display: block; color: #24292f; font-size: 18px; margin-bottom: 12px; }
.nav div { padding: 2px 0; }
.wrap { max-width: 1300px; margin: 0 0 0 340px; padding: 28px 40px; }
h1 { font-size: 30px; margin: 0 0 8px; }
.lead { color: #57606a; margin: 0 0 20px; }
h2 { font-size: 20px; margin: 22px 0 8px; border-bottom: 1px solid #d0d7de; }
h2 small { color: #57606a; font-weight: 400; font-size: 14px; margin-left: 12px; }
h3 { font-size: 15px; margin: 10px 0 4px; color: #1a7f37; }
ul { margin: 0 0 8px; padding-left: 24px; }
code { font: 13px "DejaVu Sans Mono", monospace; background: #eff1f3; padding: 1px 4px; }
"""

EDITOR_CSS = """
body { margin: 0; height: 1440px; overflow: hidden; display: flex; flex-direction: column;
  font: 13px/1.4 "Noto Sans", "DejaVu Sans", sans-serif; background: %(bg)s; color: %(fg)s; }
.title { height: 30px; line-height: 30px; padding: 0 12px; background: %(chrome)s; }
.mid { flex: 1; display: flex; min-height: 0; }
.tree { width: 250px; padding: 8px 0; background: %(side)s; overflow: hidden; }
.tree div { padding: 1px 16px; white-space: nowrap; }
.tree .on { background: %(sel)s; }
.tree .dir { font-weight: 600; }
.editor { flex: 1; min-width: 0; display: flex; flex-direction: column; }
.tabs { height: 34px; line-height: 34px; background: %(chrome)s; }
.tabs span { display: inline-block; padding: 0 18px; }
.tabs .on { background: %(bg)s; }
.code { flex: 1; overflow: hidden; padding: 6px 0; }
.code pre { margin: 0; font: 14px/1.45 "DejaVu Sans Mono", "Liberation Mono", monospace; }
.code .linenos { color: %(gutter)s; padding: 0 18px 0 12px; }
.status { height: 24px; line-height: 24px; padding: 0 12px; background: %(status)s;
  color: #fff; }
"""

LIGHT_EDITOR = {
    "bg": "#ffffff",
    "fg": "#1f1f1f",
    "chrome": "#f3f3f3",
    "side": "#f8f8f8",
    "sel": "#e4e6f1",
    "gutter": "#6e7681",
    "status": "#007acc",
}
DARK_EDITOR = {
    "bg": "#0d1117",
    "fg": "#c9d1d9",
    "chrome": "#161b22",
    "side": "#010409",
    "sel": "#1f2a3a",
    "gutter": "#6e7681",
    "status": "#1f6feb",
}

#: Lists the words wholly inside the screenshot, merging pieces that touch on one line (a
#: highlighter wraps every token in its own span, but OCR sees ``self._read(`` as one word).
WORDS_SCRIPT = """
<script>
window.addEventListener("load", () => {
  if (location.hash !== "#words") return;
  const W = %(w)d, H = %(h)d, words = [], range = document.createRange();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let prev = null, node;
  while ((node = walker.nextNode())) {
    const style = getComputedStyle(node.parentElement);
    if (style.visibility !== "visible" || node.parentElement.closest("script, style")) continue;
    const text = node.textContent, re = /\\S+/g;
    let m;
    while ((m = re.exec(text))) {
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rects = [...range.getClientRects()].filter((r) => r.width > 0);
      if (!rects.length) continue;
      const r = rects[rects.length - 1], first = rects[0];
      const piece = {text: m[0], left: first.left, right: r.right, top: first.top,
        inside: rects.every((q) => q.left >= 0 && q.top >= 0 && q.right <= W && q.bottom <= H),
        startsNode: m.index === 0, endsNode: m.index + m[0].length === text.length};
      if (prev && prev.endsNode && piece.startsNode && rects.length === 1
          && Math.abs(piece.top - prev.top) < 2 && Math.abs(piece.left - prev.right) < 1.5) {
        prev.text += piece.text; prev.right = piece.right; prev.endsNode = piece.endsNode;
        prev.inside = prev.inside && piece.inside;
      } else {
        if (prev) words.push(prev);
        prev = piece;
      }
    }
  }
  if (prev) words.push(prev);
  const out = document.createElement("pre");
  out.id = "visible-words";
  out.textContent = JSON.stringify(words.filter((w) => w.inside).map((w) => w.text));
  document.body.appendChild(out);
});
</script>
"""


def _page(title: str, css: str, body: str, scale: float) -> tuple[str, float]:
    width, height = round(SIZE[0] / scale), round(SIZE[1] / scale)
    script = WORDS_SCRIPT % {"w": width, "h": height}
    head = f'<meta charset="utf-8"><base href="{ROOT.as_uri()}/"><title>{html.escape(title)}'
    return (
        f"<!doctype html><html><head>{head}</title><style>{css}</style>{script}</head>"
        f"<body>{body}</body></html>",
        scale,
    )


def readme_page() -> tuple[str, float]:
    from markdown_it import MarkdownIt

    markdown = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    body_html = markdown.render((ROOT / "README.md").read_text(encoding="utf-8"))
    files = ["desktop_vlm", "resources", "tests", ".ci", "README.md", "pyproject.toml"]
    listing = "".join(
        f'<div style="padding:6px 16px;border-top:1px solid #d0d7de">{html.escape(f)}</div>'
        for f in files
    )
    body = (
        '<div class="top"><b>desktop-vlm</b> / main<div class="tabs"><span class="on">Code</span>'
        "<span>Issues</span><span>Pull requests</span><span>Actions</span><span>Settings</span>"
        '</div></div><div class="page"><div class="main">'
        f'<div class="box" style="margin-bottom:16px"><div class="boxhead">main</div>{listing}</div>'
        f'<div class="box"><div class="boxhead">README</div>'
        f'<div class="markdown-body">{body_html}</div></div></div>'
        '<div class="side"><h2>About</h2><p>Tray and clipboard utility: draw a rectangle on the '
        "screen, ask a vision-language model about it.</p><p>Python, PySide6, Pillow</p></div>"
        "</div>"
    )
    return _page("README", GITHUB_CSS, body, 1.5)


def _commits() -> list[dict[str, object]]:
    """This repository's commits, newest first: date, short hash, subject and files touched."""
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "log",
                "-n40",
                "--name-status",
                "--date=short",
                "--format=%x00%ad%x09%h%x09%s",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    commits: list[dict[str, object]] = []
    for chunk in out.split("\0")[1:]:
        head, _, rest = chunk.partition("\n")
        date, short, subject = (head.split("\t", 2) + ["", ""])[:3]
        files: dict[str, list[str]] = {"Added": [], "Changed": [], "Removed": []}
        for line in rest.splitlines():
            status, _, path = line.partition("\t")
            kind = {"A": "Added", "D": "Removed"}.get(status[:1], "Changed")
            if path:
                files[kind].append(path.split("\t")[-1])
        commits.append({"date": date, "hash": short, "subject": subject, "files": files})
    if len(commits) < 10:  # a shallow clone: the README's bullet points stand in
        bullets = re.findall(r"^- (.+)$", (ROOT / "README.md").read_text(), re.M)
        commits = [
            {"date": "2026-01-01", "hash": f"{i:07x}", "subject": b, "files": {}}
            for i, b in enumerate(bullets)
        ]
    return commits


def changelog_page() -> tuple[str, float]:
    commits = _commits()
    parts = []
    for number, commit in enumerate(commits):
        version = f"0.{len(commits) - number}.0"
        parts.append(
            f"<h2>[{version}] - {commit['date']}<small>{commit['hash']}</small></h2>"
            f"<p>{html.escape(str(commit['subject']))}</p>"
        )
        for kind, paths in commit["files"].items():  # type: ignore[union-attr]
            if not paths:
                continue
            shown = "".join(f"<li><code>{html.escape(p)}</code></li>" for p in paths[:5])
            more = f"<li>and {len(paths) - 5} more files</li>" if len(paths) > 5 else ""
            parts.append(f"<h3>{kind}</h3><ul>{shown}{more}</ul>")
    nav = "".join(f"<div>0.{len(commits) - i}.0</div>" for i in range(min(len(commits), 40)))
    body = (
        '<div class="nav"><b>desktop-vlm docs</b><div>Install</div><div>Usage</div>'
        f"<div>Configuration</div><div>Changelog</div><hr>{nav}</div>"
        '<div class="wrap"><h1>Changelog</h1><p class="lead">All notable changes to desktop-vlm.'
        " The format is based on Keep a Changelog, and this project adheres to Semantic "
        f"Versioning.</p>{''.join(parts)}</div>"
    )
    return _page("Changelog", CHANGELOG_CSS, body, 1.5)


def editor_page(source: str, pygments_style: str, colours: dict[str, str]) -> tuple[str, float]:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    formatter = HtmlFormatter(style=pygments_style, linenos="inline", nowrap=False)
    code = highlight((ROOT / source).read_text(encoding="utf-8"), PythonLexer(), formatter)
    css = EDITOR_CSS % colours + formatter.get_style_defs(".code")
    folder = Path(source).parent
    tree = [f'<div class="dir">{html.escape(folder.as_posix())}</div>']
    for path in sorted((ROOT / folder).glob("*.py"))[:40]:
        on = ' class="on"' if path.name == Path(source).name else ""
        tree.append(f"<div{on}>{html.escape(path.name)}</div>")
    lines = (ROOT / source).read_text(encoding="utf-8").count("\n")
    body = (
        f'<div class="title">{html.escape(source)} - desktop-vlm - Code</div><div class="mid">'
        f'<div class="tree">{"".join(tree)}</div><div class="editor"><div class="tabs">'
        f'<span class="on">{html.escape(Path(source).name)}</span><span>README.md</span></div>'
        f'<div class="code">{code}</div></div></div>'
        f'<div class="status">main  Ln 1, Col 1  Spaces: 4  UTF-8  LF  Python  {lines} lines</div>'
    )
    return _page(source, css, body, 1.5)


def table_page() -> tuple[str, float]:
    rows = []
    for path in sorted(p for p in ROOT.rglob("*.py") if ".venv" not in p.parts)[:120]:
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        blank = sum(1 for line in lines if not line.strip())
        comments = sum(1 for line in lines if line.strip().startswith("#"))
        functions = len(re.findall(r"^\s*(?:async\s+)?def ", text, re.M))
        classes = len(re.findall(r"^\s*class ", text, re.M))
        doc = re.match(r'\s*(?:"""|\'\'\')\s*(.*)', text)
        summary = doc.group(1).strip().rstrip('"')[:90] if doc else ""
        digest = hashlib.sha1(text.encode()).hexdigest()[:12]
        rows.append(
            (
                path.relative_to(ROOT).as_posix(),
                len(lines),
                len(lines) - blank - comments,
                comments,
                blank,
                functions,
                classes,
                path.stat().st_size,
                digest,
                summary,
            )
        )
    head = ["File", "Lines", "Code", "Comments", "Blank", "Functions", "Classes", "Bytes"]
    head += ["SHA-1", "Summary"]
    cells = "".join(f"<th>{h}</th>" for h in head)
    body_rows = "".join(
        f"<tr><td>{html.escape(r[0])}</td>"
        + "".join(f'<td class="n">{v:,}</td>' for v in r[1:8])
        + f"<td><code>{r[8]}</code></td><td>{html.escape(r[9])}</td></tr>"
        for r in rows
    )
    body = (
        '<div class="bar">repository-statistics.csv - Sheet</div>'
        '<div class="formula">A1  fx  File</div>'
        f"<table><tr>{cells}</tr>{body_rows}</table>"
    )
    return _page("Table", TABLE_CSS, body, 1.5)


def article_page() -> tuple[str, float]:
    paragraphs = [
        p.replace("\n", " ")
        for p in re.split(r"\n\s*\n", (ROOT / "README.md").read_text(encoding="utf-8"))
        if p[:1].isalpha() and len(p) > 120
    ][:14]
    text = "".join(f"<p>{html.escape(re.sub(r'[`*_]', '', p))}</p>" for p in paragraphs)
    body = (
        "<header>The Desktop Journal<span>Software</span><span>Hardware</span>"
        "<span>Reviews</span></header><article><h1>Ask your screen: a tray app that reads what "
        'you point at</h1><div class="byline">By the desktop-vlm team, 2 December 2026</div>'
        f'<figure><img src="{PHOTO.as_uri()}" width="1180" height="664">'
        "<figcaption>A nuthatch on a tree trunk (photo: Lukas Baubkus).</figcaption></figure>"
        f'<div class="cols">{text}</div></article>'
    )
    return _page("Article", ARTICLE_CSS, body, 1.5)


PAGES = {
    "readme": ("screen", readme_page),
    "changelog": ("screen", changelog_page),
    "code-light": (
        "screen",
        lambda: editor_page("desktop_vlm/core/conversation.py", "vs", LIGHT_EDITOR),
    ),
    "code-dark": (
        "screen",
        lambda: editor_page("desktop_vlm/core/sse.py", "github-dark", DARK_EDITOR),
    ),
    "table": ("screen", table_page),
    "article": ("mixed", article_page),
}
