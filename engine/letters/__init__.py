"""The letters to the applicants: templates, the bounded sandbox they run in, escaping of applicant data."""
