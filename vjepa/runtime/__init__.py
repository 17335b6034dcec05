"""The ground floor every other package stands on: where a run computes (device, precision, CPU features,
threads), checkpoint I/O, run directories (one run at a time, no stale temporaries), user-facing errors and the
console scripts' error handler, start-up config checks. Imports nothing of the toolkit above it."""
