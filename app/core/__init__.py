"""The words every package shares: items of the programme and background jobs."""
