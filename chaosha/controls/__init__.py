"""Chaos Toolkit controls shipped by chaosha."""
