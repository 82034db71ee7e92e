"""Benchmarks: commands that print numbers (never run by the test suite, never asserted on)."""
