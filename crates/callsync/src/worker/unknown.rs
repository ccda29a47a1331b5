//! R13 for one call whose number R3 found no record for: the Lead or Contact to link,
//! created once per number however close together its calls come.
//!
//! The record is known to callsync the moment it is created (the store's
//! `unknown_number_records`), so a second call links it without asking Salesforce's search
//! index. A step claims the number before it sends the create; a claim whose create's answer
//! was lost (or whose worker died) is taken over once the request can no longer land, and
//! the new holder first looks for the record by SOQL (the database, not the search index)
//! before creating one.
//!
//! A create Salesforce refuses (a required field, a duplicate rule) lands in the error log
//! with its remedy, and the call's Task is written without a link (R3.7): the record is
//! optional, the Task is not.

use callsync_core::ids::SalesforceId;
use callsync_core::matching::Match;
use callsync_core::settings::Settings;
use callsync_core::task::TaskContext;
use callsync_core::unknown::{NewRecord, unknown_number_record};
use jiff::{SignedDuration, Timestamp};
use salesforce::ErrorKind;

use super::Worker;
use super::step::{End, Health};
use crate::crm::{self, CrmError, Step};
use crate::index::IndexedRecord;
use crate::store::{
    CallSummary, HistoryLine, NewError, UnknownNumberClaim, UnknownNumberRow, WaitReason, WorkItem,
};

/// How long a call waits for another call's create of the same number to finish.
const WAIT_FOR_OTHER_CREATE: SignedDuration = SignedDuration::from_secs(1);

/// How long a record callsync created is linked from memory when R3 does not find it.
/// R3 finds a created record itself within moments (SOQL reads the database, and the
/// record is put into the phone index at once): memory covers the calls racing its create
/// and the search index's lag. Later, R3 not finding it means it was deleted, converted or
/// given another number, and linking it would fail or be wrong: a new record is made.
const REMEMBER_CREATED: SignedDuration = SignedDuration::from_mins(15);

/// What R13 gives the Task.
pub(super) enum Unknown {
    /// Link this record (created now, or earlier for the same number).
    Linked(Match),
    /// Write the Task without a link: R13 is off, or the create was refused.
    Unlinked,
    /// Not now: another call is creating the record, or Salesforce must be asked again.
    End(End, Health),
}

/// What the step holds once it may create.
enum Holding {
    /// The claim; `taken_over` (with the earlier claim's time) when it was an earlier
    /// step's, whose create may have landed.
    Claim {
        claim: UnknownNumberClaim,
        taken_over: Option<Timestamp>,
    },
    Done(Box<Unknown>),
}

impl Worker {
    /// R13 for a call about to be created without a record. `context.owner` is the R7
    /// owner, given to the record too.
    #[allow(clippy::too_many_arguments)] // the step's inputs, each distinct
    pub(super) async fn unknown_number(
        &self,
        item: &WorkItem,
        writer: &salesforce::Client,
        call: &callsync_core::call::Call,
        settings: &Settings,
        context: &TaskContext,
        summary: &CallSummary,
        now: Timestamp,
    ) -> anyhow::Result<Unknown> {
        let Some(record) = unknown_number_record(call, settings, context) else {
            return Ok(Unknown::Unlinked);
        };
        let (claim, taken_over) = match self.hold_number(item, &record, now).await? {
            Holding::Done(unknown) => return Ok(*unknown),
            Holding::Claim { claim, taken_over } => (claim, taken_over),
        };
        let object = record.object_name();
        let phone = record
            .fields
            .get("Phone")
            .and_then(|phone| phone.as_str())
            .unwrap_or_default()
            .to_owned();
        // A claim taken over may belong to a create that landed: look before creating. The
        // margin covers the clocks of callsync and Salesforce disagreeing a little.
        if let Some(seen) = taken_over {
            let since = seen
                .checked_sub(SignedDuration::from_mins(1))
                .unwrap_or(seen);
            match crm::records::find_created_record(writer, object, &phone, since).await {
                Ok(Some(id)) => return self.linked(&claim, &record, id, now).await,
                Ok(None) => {}
                Err(error) => {
                    return self
                        .refused(item, claim, error, settings, summary, now)
                        .await;
                }
            }
        }
        let created = crm::records::create_record(
            writer,
            object,
            &record.to_json(),
            settings.unknown_numbers.auto_assign,
        )
        .await;
        match created {
            Ok(id) => self.linked(&claim, &record, id, now).await,
            Err(error) => {
                self.refused(item, claim, error, settings, summary, now)
                    .await
            }
        }
    }

    /// Claims the number, or says what to do instead: link the record another call
    /// created, or wait for the create another call is making.
    async fn hold_number(
        &self,
        item: &WorkItem,
        record: &NewRecord,
        now: Timestamp,
    ) -> anyhow::Result<Holding> {
        let store = &self.store;
        let (org, key) = (item.org_id.as_str(), record.number_key.as_str());
        // A few rounds: a claim lost to a racing step is read back and judged like any
        // other, and a forgotten record makes room for a new claim.
        for _ in 0..3 {
            let Some(row) = store.unknown_number(org, key).await? else {
                match store
                    .claim_unknown_number(org, key, record.object_name(), &item.call_id, now)
                    .await?
                {
                    Some(claim) => {
                        return Ok(Holding::Claim {
                            claim,
                            taken_over: None,
                        });
                    }
                    None => continue,
                }
            };
            if let Some(id) = row
                .record_id
                .as_deref()
                .and_then(|id| SalesforceId::parse(id).ok())
            {
                let at = row.created_at.unwrap_or(row.claimed_at);
                if at
                    .checked_add(REMEMBER_CREATED)
                    .is_ok_and(|until| now >= until)
                {
                    store.forget_unknown_number(org, key, id.to_18()).await?;
                    continue;
                }
                return Ok(Holding::Done(Box::new(Unknown::Linked(
                    record.created(id, at),
                ))));
            }
            let stale_at = row
                .claimed_at
                .checked_add(self.settle_time())
                .unwrap_or(row.claimed_at);
            if now < stale_at {
                let until = if row.claimed_by == item.call_id {
                    // This call's own earlier create may still land: wait until it cannot.
                    stale_at
                } else {
                    now.checked_add(WAIT_FOR_OTHER_CREATE)
                        .unwrap_or(now)
                        .min(stale_at)
                };
                return Ok(Holding::Done(Box::new(Unknown::End(
                    waiting(&row, until),
                    Health::NotAsked,
                ))));
            }
            if let Some(claim) = store
                .take_over_unknown_number(org, key, &row, &item.call_id, now)
                .await?
            {
                return Ok(Holding::Claim {
                    claim,
                    taken_over: Some(row.claimed_at),
                });
            }
        }
        let until = now.checked_add(WAIT_FOR_OTHER_CREATE).unwrap_or(now);
        Ok(Holding::Done(Box::new(Unknown::End(
            End::Wait {
                until,
                reason: WaitReason::CreateSettling,
                backoff: false,
                line: line("another call is creating the record for this number"),
                outcome: super::Outcome::Waiting,
            },
            Health::NotAsked,
        ))))
    }

    /// A request still on its way when the worker gave up may land until the client's
    /// timeout; a claim older than that, plus a margin, has either landed or failed.
    fn settle_time(&self) -> SignedDuration {
        SignedDuration::from_secs(
            i64::try_from(self.config.salesforce_timeout_seconds).unwrap_or(i64::MAX / 2),
        )
        .checked_add(SignedDuration::from_secs(5))
        .unwrap_or(SignedDuration::MAX)
    }

    /// Records the created (or found) record under the claim, adds it to the phone index
    /// and links it.
    async fn linked(
        &self,
        claim: &UnknownNumberClaim,
        record: &NewRecord,
        id: SalesforceId,
        now: Timestamp,
    ) -> anyhow::Result<Unknown> {
        if !self
            .store
            .record_unknown_number(claim, id.to_18(), now)
            .await?
        {
            // Taken over meanwhile (this step looked dead): the new holder finds this
            // record by its search and records it; link it all the same.
            tracing::warn!(record = %id, "the claim of an unknown number was taken over during its create");
        }
        // The claim's time is before Salesforce stamped the record, so the index's next
        // sync, which brings the record's own SystemModstamp, replaces this version.
        let found = record.created(id, claim.claimed_at);
        if let Some(candidate) = &found.candidate {
            let indexed = IndexedRecord {
                candidate: candidate.clone(),
                system_modstamp: claim.claimed_at,
            };
            let index = self.store.indexes().org(&claim.org_id);
            if let Err(error) = index.add_record(&self.store, indexed).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot add the created record to the phone index"
                );
            }
        }
        tracing::info!(record = %found.record_id, object = ?found.object, "record created for an unknown number (R13)");
        Ok(Unknown::Linked(found))
    }

    /// A create (or the search before it) that failed. A refusal (R9) lands in the error
    /// log and the Task is written unlinked; what a retry can fix waits.
    async fn refused(
        &self,
        item: &WorkItem,
        claim: UnknownNumberClaim,
        error: CrmError,
        settings: &Settings,
        summary: &CallSummary,
        now: Timestamp,
    ) -> anyhow::Result<Unknown> {
        match error.kind() {
            // The record may exist: keep the claim, so the next attempt looks for it once
            // the request can no longer land.
            ErrorKind::OutcomeUnknown => {}
            _ => self.store.release_unknown_number(&claim).await?,
        }
        match error.kind() {
            ErrorKind::Permanent => {
                let note = NewError {
                    step: Step::CreateRecord.as_str().to_owned(),
                    remedy: error.remedy(Step::CreateRecord, Some(settings)),
                    code: error.code(),
                    message: error.message(),
                };
                tracing::warn!(code = %note.code, "the record for an unknown number was refused; the Task is written unlinked");
                self.store
                    .open_error(&item.org_id, &item.call_id, &note, now)
                    .await?;
                Ok(Unknown::Unlinked)
            }
            _ => {
                let (end, health) =
                    self.crm_failure(item, Step::CreateRecord, error, settings, summary, now);
                Ok(Unknown::End(end, health))
            }
        }
    }
}

fn waiting(row: &UnknownNumberRow, until: Timestamp) -> End {
    End::Wait {
        until,
        reason: WaitReason::CreateSettling,
        backoff: false,
        line: line(&format!(
            "the {} for this number is being created by call {}; linking it once it exists",
            row.object, row.claimed_by
        )),
        outcome: super::Outcome::Waiting,
    }
}

fn line(detail: &str) -> HistoryLine {
    HistoryLine {
        action: Step::CreateRecord.as_str().to_owned(),
        outcome: "wait".into(),
        detail: Some(detail.to_owned()),
    }
}
