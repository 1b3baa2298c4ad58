"""The ``omnivec`` command line: thin typer shells over library functions (imports stay lazy)."""
