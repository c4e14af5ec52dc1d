"""Background work: Huey tasks that take a job id, and the runner that drives provisioners."""
