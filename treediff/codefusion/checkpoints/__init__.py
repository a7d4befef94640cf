"""Shipped CodeFusion checkpoints (package data)."""
