"""The compiled wire core (see core.pyx). Nothing here is public API."""
