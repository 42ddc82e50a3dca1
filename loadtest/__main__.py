"""`python -m loadtest`: the rehearsal command, run by `flashsale loadtest` in its own process so that
nothing that serves imports the load-test tools."""
from __future__ import annotations

import typer

from loadtest.cli import loadtest


def main() -> None:
    app = typer.Typer(add_completion=False)
    app.command()(loadtest)
    typer.main.get_command(app)(prog_name="flashsale loadtest")


if __name__ == "__main__":
    main()
