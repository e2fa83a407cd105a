"""Media and audio: sessions, audio focus and zones, sources (library, radio/HLS, podcasts,
apps), and the playback engine. The contract is ``docs/media.md``."""
