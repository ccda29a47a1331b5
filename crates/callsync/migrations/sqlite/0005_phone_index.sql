-- Issue 14: the local phone index (R15).
--
-- phone_index_records: one row per indexed Contact, Account (Person Accounts too) or Lead
--   of an organisation; body is the record as JSON (object, Id, phone fields as stored,
--   LastModifiedDate, SystemModstamp, IsConverted, AccountId, PersonContactId, OwnerId,
--   names). Numbers are put in normal form in memory, with the organisation's region.
-- phone_index_state: the organisation's sync state as JSON: the backfill cursor per
--   object (last Id stored), whether the backfill finished, the incremental watermark
--   (SystemModstamp) and the last error. Written in the same transaction as the rows it
--   describes, so a crash resumes where the last stored page ended.
CREATE TABLE phone_index_records (
    org_id     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (org_id, record_id)
);

CREATE TABLE phone_index_state (
    org_id      TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
