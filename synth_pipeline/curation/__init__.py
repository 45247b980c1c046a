"""Curation: filters over candidate frames; every dropped row keeps its reason."""
