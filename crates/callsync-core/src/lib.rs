//! callsync-core: the sync rules (R1–R11 of `spec/sync-rules.md`) as pure functions of plain data.
