"""The `smartby` command."""

import typer

app = typer.Typer(help="smartby: an open smart-city platform speaking NGSI-LD.", no_args_is_help=True)
