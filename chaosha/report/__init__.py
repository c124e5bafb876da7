"""Self-contained HTML reports (with a PNG timeline) of Chaos Toolkit journals."""
