"""Runs the joint housing-handoff stack natively."""
