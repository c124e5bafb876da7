"""HAProxy: backend states from the stats page and where connections really land."""
