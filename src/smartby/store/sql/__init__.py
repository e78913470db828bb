"""The SQL both backends run, written once: see `dialect` for the differences it leaves to them."""
