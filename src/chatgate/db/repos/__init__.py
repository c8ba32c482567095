"""Query functions, one module per table group. The only place with SQL."""
