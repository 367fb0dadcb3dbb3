"""A list of models or runs: a table on a terminal, tab-separated lines for scripts."""

from __future__ import annotations


def print_listing(title: str, columns: list[str], rows: list[list[str]], plain_columns: list[str],
                  plain_rows: list[list[str]], paths: list, right=(), empty: str = "") -> None:
    """A table on a terminal (the paths beside it, or under it where it would not fit); piped or redirected,
    tab-separated lines with a header and exact numbers, for grep and scripts (as ls and git do)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        print("\t".join([*plain_columns, "path"]))
        for row, path in zip(plain_rows, paths):
            print("\t".join(f.replace("\t", " ").replace("\n", " ") for f in [*row, str(path)]))
        return
    if not rows:
        console.print(empty, highlight=False)
        return

    def table(with_path: bool) -> Table:
        table = Table(title=title)
        for column in columns + (["path"] if with_path else []):
            table.add_column(column, justify="right" if column in right else "left", no_wrap=True)
        for row, path in zip(rows, paths):
            table.add_row(*row, *([str(path)] if with_path else []))
        return table

    full = table(with_path=True)
    if console.measure(full, options=console.options.update_width(10_000)).maximum <= console.width:
        console.print(full)
    else:  # a narrow terminal: the table without paths, then one path per line (a path folds; a cell would not)
        console.print(table(with_path=False))
        for row, path in zip(rows, paths):
            console.print(f"{row[0]}: {path}", highlight=False, overflow="fold")
