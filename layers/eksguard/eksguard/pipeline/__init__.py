"""pipeline: one function per guard, wiring parse -> snapshot -> detect -> plan -> apply -> record -> alert."""
