"""Seat memory: three driver profiles of seat and mirror positions, saved and recalled from
the centre display (a carmesh example app)."""
