"""Tables that fit the terminal: long values wrap onto more lines, short ones stay whole, none is cut."""

from __future__ import annotations

from rich.table import Table


def fitting_table(
    *headers: str, short: tuple[str, ...] = (), right: tuple[str, ...] = (), **options
) -> Table:
    """A borderless table whose ``short`` columns never wrap and whose other columns wrap (never ``…``).

    ``short`` names columns of short values (statuses, numbers, times); ``right`` aligns numbers.
    """
    view = Table(box=None, header_style="bold", pad_edge=False, **options)
    for header in headers:
        view.add_column(
            header, no_wrap=header in short, overflow="fold", justify="right" if header in right else "left"
        )
    return view
