"""Pieces every maillab server shares: the event log and durable file writes."""
