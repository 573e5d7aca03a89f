"""Reporting: scores with margins, change tests, periods, report queries, text and charts."""
