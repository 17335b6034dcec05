"""The ground floor every other package stands on: user-facing errors and the console scripts' error handler,
run directories (one run at a time, no stale temporaries), start-up config checks. Imports nothing of the toolkit."""
