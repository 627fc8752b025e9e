"""Scheduled work: the tick job, the send loop, schedule arithmetic and digest content."""
