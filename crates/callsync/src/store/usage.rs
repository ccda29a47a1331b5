//! The organisation's Salesforce API usage as the worker last saw it (R14 API budget):
//! written from the `Sforce-Limit-Info` header of its answers, read by `GET /v1/org`.

use jiff::Timestamp;
use sqlx::Row as _;

use super::{Store, millis, timestamp};

/// Requests used of the organisation's rolling 24-hour allowance, when last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ApiUsageRow {
    /// Requests used in the rolling 24 hours (all of the organisation's, not callsync's
    /// alone: Salesforce counts them together).
    pub used: i64,
    /// The organisation's allowance for those 24 hours.
    pub allowance: i64,
    /// The part of it callsync may use (`worker.api_budget_share`): creates wait past it,
    /// updates already past nine tenths of it (R14).
    pub budget: i64,
    /// When a Salesforce answer reported it.
    pub observed_at: Timestamp,
}

impl Store {
    /// Records the usage a Salesforce answer reported for the organisation.
    pub async fn put_api_usage(&self, org_id: &str, usage: &ApiUsageRow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO org_api_usage (org_id, used, allowance, budget, observed_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_id) DO UPDATE SET
                used = excluded.used, allowance = excluded.allowance,
                budget = excluded.budget, observed_at = excluded.observed_at",
        )
        .bind(org_id)
        .bind(usage.used)
        .bind(usage.allowance)
        .bind(usage.budget)
        .bind(millis(usage.observed_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The usage last recorded for the organisation, if any answer reported one.
    pub async fn api_usage(&self, org_id: &str) -> anyhow::Result<Option<ApiUsageRow>> {
        let row = sqlx::query(
            "SELECT used, allowance, budget, observed_at FROM org_api_usage WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ApiUsageRow {
                used: row.try_get("used")?,
                allowance: row.try_get("allowance")?,
                budget: row.try_get("budget")?,
                observed_at: timestamp(row.try_get("observed_at")?),
            })
        })
        .transpose()
    }
}
