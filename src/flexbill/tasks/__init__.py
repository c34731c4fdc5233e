"""The outbox: side effects on the outside world as task rows, claimed by workers with a lease."""
