"""Alfresco Content Services: readiness and end-to-end write probes through
the public REST API v1, the way Alfresco's own clients reach the database."""
