from smartby.cli import app

app()
