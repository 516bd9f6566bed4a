"""Text for people: the one table formatter, byte sizes and durations.

Every table sparsecore prints (``Sequential.summary``, the sparsity report,
``SparseModel.summary``, the demo's comparison, the benchmark tables, the
CLI's listings) goes through :func:`format_table`; sizes through
:func:`human_bytes`; durations through :func:`format_seconds`.

``sparsecore.runtime`` carries a byte-for-byte copy of this module as
``sparsecore/runtime/_text.py`` (the runtime imports nothing outside itself);
``tests/test_layering.py`` fails if the two ever differ.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_seconds", "format_table", "human_bytes"]


def format_table(
    rows: Sequence[Sequence[str]],
    align: str | None = None,
    *,
    rules: Sequence[int] = (1,),
    markdown: bool = False,
) -> str:
    """Lay out rows of strings as aligned columns.

    Parameters
    ----------
    rows : sequence of sequence of str
        The first row is the header; every row has the same length.
    align : str, optional
        One letter per column: ``'l'`` (left) or ``'r'`` (right). Default:
        the first column left, the others right.
    rules : sequence of int, default=(1,)
        Draw a line of ``-`` before each of these row indices (1: under the
        header; ``len(rows) - 1``: above a total line). Ignored for Markdown.
    markdown : bool, default=False
        A GitHub Markdown table instead (the header, then ``|---|`` and the
        rows).

    Returns
    -------
    str
        Columns separated by two spaces, lines without trailing blanks.

    Examples
    --------
    >>> print(format_table([("name", "n"), ("a", "1"), ("total", "10")], rules=(1, 2)))
    name    n
    ---------
    a       1
    ---------
    total  10
    """
    if not rows:
        return ""
    n_cols = len(rows[0])
    if any(len(r) != n_cols for r in rows):
        raise ValueError(
            f"rows must all have {n_cols} cells; got {[len(r) for r in rows]}"
        )
    align = align if align is not None else "l" + "r" * (n_cols - 1)
    if len(align) != n_cols or set(align) - {"l", "r"}:
        raise ValueError(f"align must be {n_cols} letters 'l' or 'r'; got {align!r}")
    if markdown:
        marks = [":---" if a == "l" else "---:" for a in align]
        out = ["| " + " | ".join(rows[0]) + " |", "| " + " | ".join(marks) + " |"]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(out)
    widths = [max(len(r[i]) for r in rows) for i in range(n_cols)]
    lines = [
        "  ".join(
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(r, widths, align, strict=True)
        ).rstrip()
        for r in rows
    ]
    rule = "-" * max(len(line) for line in lines)
    for index in sorted(set(rules), reverse=True):
        if 0 < index <= len(lines):
            lines.insert(index, rule)
    return "\n".join(lines)


def human_bytes(n: int) -> str:
    """`n` bytes in decimal units: ``"512 B"``, ``"17.6 KB"``, ``"2.07 MB"``.

    Examples
    --------
    >>> human_bytes(999), human_bytes(17_600), human_bytes(2_073_600)
    ('999 B', '17.6 KB', '2.07 MB')
    """
    if n < 1000:
        return f"{n:,} B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_seconds(s: float) -> str:
    """A duration: ``"2.31 s"``, ``"4.56 ms"``, ``"78 us"``, or ``"3 min 05 s"``.

    Examples
    --------
    >>> format_seconds(2.3149), format_seconds(0.00456), format_seconds(185.2)
    ('2.31 s', '4.56 ms', '3 min 05 s')
    """
    if s != s:  # NaN
        return "-"
    if s >= 60:
        minutes, seconds = divmod(round(s), 60)
        if minutes >= 60:
            hours, minutes = divmod(minutes, 60)
            return f"{hours} h {minutes:02d} min"
        return f"{minutes} min {seconds:02d} s"
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} us"
