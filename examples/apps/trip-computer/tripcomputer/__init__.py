"""Trip computer: distance, driving time, average speed and consumption since a reset, and a
history of the energy used per kilometre (a carmesh example app)."""
