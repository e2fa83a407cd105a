"""A seat-position app for carmesh, written with the unmodified velocitas-sdk."""
