"""The write-up: figures and tables from the store's results, compiled into report.pdf."""
