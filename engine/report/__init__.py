"""report.html, the offline report an evaluator signs."""
