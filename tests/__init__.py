"""Tests for the ner library."""
