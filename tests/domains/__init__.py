"""Domains that live only in the test suite (see docs/adding-a-grammar.md)."""
