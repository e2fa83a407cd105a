"""Charging assistant: state of charge, charge limit and time to it while charging, with a
notification when the limit is reached or charging fails to start (a carmesh example app)."""
