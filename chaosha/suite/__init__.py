"""Running experiments one after another, their JUnit/Markdown summary and
trends across runs."""
