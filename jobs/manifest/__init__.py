"""Jobs as code: a manifest of a team's jobs keyed by natural ID, planned, applied and exported through the
one write path (jobs.write). The parts: document (text ↔ data, with line numbers), entries (a job ↔ a
manifest entry), plan, apply (and export), crontab (import), report (the plan as a table), schema."""
