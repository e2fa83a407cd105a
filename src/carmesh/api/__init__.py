"""Wire adapters over the broker core: each translates its protocol to broker calls and maps
:mod:`carmesh.errors` to its own error form in one place. No broker logic lives here."""
