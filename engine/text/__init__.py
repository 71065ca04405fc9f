"""Words and numbers in a language: the message catalogue and the formatting of amounts, dates, points."""
