"""What plays next: the pure scheduler, the queue it keeps topped up, and the planner that
joins them to the database and the wall clock."""
