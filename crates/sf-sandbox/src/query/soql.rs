//! Running SOQL: `query` and `queryAll` answers in the REST shape, and the cursor that
//! serves `query/{locator}` batches.
//!
//! Paging follows the REST API: at most [`DEFAULT_BATCH_SIZE`] records per response (the
//! documented default and maximum batch size); when more remain, `done` is false and
//! `nextRecordsUrl` is `/services/data/vXX.X/query/{locator}-{offset}`, where `{offset}`
//! counts the records already returned (as recorded responses show, e.g.
//! `/services/data/v52.0/query/0r8xx3Mnb7eUvmLAJ5-2000`). The server keeps each
//! [`QueryCursor`] under its locator id and drops it when it expires; the engine keeps no
//! state. A cursor holds the matching Ids in result order, fixed when the query ran, and
//! renders each batch from the org as it is when the batch is asked for; a record deleted in
//! between is skipped.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use super::error::QueryError;
use super::parser::{SelectItem, SelectStatement, parse_soql};
use super::plan::{self, PlanContext, Predicate, RenderNode, SortKey};
use super::source::{QuerySource, Record};

/// Salesforce's default (and largest) number of records per query response.
pub const DEFAULT_BATCH_SIZE: usize = 2000;

/// What a query runs with besides its text.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// The API version of the request path, with or without the `v` (`62.0`).
    pub api_version: String,
    /// "Now", for relative date literals (`TODAY`, `LAST_N_DAYS:7`).
    pub now: Timestamp,
    /// The caller's time zone: relative date literals start at its midnight.
    pub time_zone: TimeZone,
    /// `queryAll`: records in the recycle bin are included too.
    pub include_deleted: bool,
    /// Records per response; Salesforce's default is 2000.
    pub batch_size: usize,
}

impl QueryOptions {
    /// A `query` (not `queryAll`) in UTC with the default batch size.
    pub fn new(api_version: &str, now: Timestamp) -> QueryOptions {
        QueryOptions {
            api_version: api_version.to_string(),
            now,
            time_zone: TimeZone::UTC,
            include_deleted: false,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }

    fn version(&self) -> &str {
        self.api_version.trim_start_matches(['v', 'V'])
    }

    fn batch(&self) -> usize {
        self.batch_size.max(1)
    }
}

/// One response's worth of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    /// `totalSize`: every record the query matched (after LIMIT/OFFSET), not just this batch.
    pub total_size: usize,
    /// The rendered records of this batch.
    pub records: Vec<Value>,
    /// The offset of the next batch, when there is one.
    pub next_offset: Option<usize>,
}

impl QueryPage {
    /// The REST body. `locator_id` is the id the server stored the cursor under; it is only
    /// used when a next batch exists.
    pub fn to_json(&self, api_version: &str, locator_id: Option<&str>) -> Value {
        let mut body = Map::new();
        body.insert("totalSize".to_string(), Value::from(self.total_size));
        body.insert("done".to_string(), Value::Bool(self.next_offset.is_none()));
        if let (Some(offset), Some(locator_id)) = (self.next_offset, locator_id) {
            body.insert(
                "nextRecordsUrl".to_string(),
                Value::String(next_records_url(api_version, locator_id, offset)),
            );
        }
        body.insert("records".to_string(), Value::Array(self.records.clone()));
        Value::Object(body)
    }
}

/// `/services/data/v62.0/query/{locator_id}-{offset}`.
pub fn next_records_url(api_version: &str, locator_id: &str, offset: usize) -> String {
    format!(
        "/services/data/v{}/query/{locator_id}-{offset}",
        api_version.trim_start_matches(['v', 'V'])
    )
}

/// Splits the last path segment of `query/{locator}` into the locator id and the offset.
/// `None` means Salesforce's INVALID_QUERY_LOCATOR.
pub fn parse_locator(locator: &str) -> Option<(&str, usize)> {
    let (id, offset) = locator.rsplit_once('-')?;
    if id.is_empty() {
        return None;
    }
    Some((id, offset.parse().ok()?))
}

/// The rest of a query result, for `query/{locator}`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct QueryCursor {
    object: Arc<str>,
    render: Arc<RenderNode>,
    ids: Arc<[String]>,
}

impl QueryCursor {
    /// How many records the whole result holds (`totalSize`).
    pub fn total_size(&self) -> usize {
        self.ids.len()
    }
}

/// The answer to a query: the first batch, and the cursor for the rest when there is more.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    pub page: QueryPage,
    /// Store this under a fresh locator id and pass that id to [`QueryPage::to_json`].
    pub cursor: Option<QueryCursor>,
}

/// Runs a SOQL statement against `source`.
pub fn run_query(
    source: &dyn QuerySource,
    soql: &str,
    options: &QueryOptions,
) -> Result<QueryOutcome, QueryError> {
    let statement = parse_soql(soql)?;
    let context = PlanContext {
        source,
        statement: soql,
        now: options.now,
        time_zone: options.time_zone.clone(),
    };
    let plan = SelectPlan::build(&context, &statement)?;
    // A lower bound on `SystemModstamp` narrows the rows read; the whole predicate still
    // decides each row, so the answer is the same as a scan's.
    let candidates = plan
        .predicate
        .as_ref()
        .and_then(|predicate| predicate.lower_bound_ms("SystemModstamp"))
        .and_then(|since| {
            source.records_stamped_since(&plan.object, options.include_deleted, since)
        })
        .unwrap_or_else(|| source.records(&plan.object, options.include_deleted));
    let mut rows: Vec<&Record> = candidates
        .filter(|record| {
            plan.predicate
                .as_ref()
                .is_none_or(|predicate| predicate.matches(source, record))
        })
        .collect();
    plan::sort_rows(source, &mut rows, &plan.order);
    let skip = usize::try_from(plan.offset)
        .unwrap_or(usize::MAX)
        .min(rows.len());
    let take = plan.limit.map_or(usize::MAX, |limit| {
        usize::try_from(limit).unwrap_or(usize::MAX)
    });
    let sorted = rows;
    let rows: Vec<&Record> = sorted.iter().copied().skip(skip).take(take).collect();
    let version = options.version();
    match &plan.shape {
        SelectShape::CountAll => Ok(QueryOutcome {
            page: QueryPage {
                total_size: rows.len(),
                records: Vec::new(),
                next_offset: None,
            },
            cursor: None,
        }),
        SelectShape::Count { field, alias } => {
            let counted = rows
                .iter()
                .filter(|record| {
                    !matches!(plan::read(source, record, field).to_json(), Value::Null)
                })
                .count();
            let mut record = Map::new();
            let mut attributes = Map::new();
            attributes.insert(
                "type".to_string(),
                Value::String("AggregateResult".to_string()),
            );
            record.insert("attributes".to_string(), Value::Object(attributes));
            record.insert(
                alias.clone().unwrap_or_else(|| "expr0".to_string()),
                Value::from(counted),
            );
            Ok(QueryOutcome {
                page: QueryPage {
                    total_size: 1,
                    records: vec![Value::Object(record)],
                    next_offset: None,
                },
                cursor: None,
            })
        }
        SelectShape::Grouped { keys, columns } => {
            // LIMIT and OFFSET count groups, not rows.
            let records: Vec<Value> = group_rows(source, &sorted, keys, columns)
                .into_iter()
                .skip(skip)
                .take(take)
                .collect();
            Ok(QueryOutcome {
                page: QueryPage {
                    total_size: records.len(),
                    records,
                    next_offset: None,
                },
                cursor: None,
            })
        }
        SelectShape::Records(render) => {
            let batch = options.batch();
            let records = rows
                .iter()
                .take(batch)
                .map(|record| render.render(source, &plan.object, record, version))
                .collect();
            let total_size = rows.len();
            let (next_offset, cursor) = if total_size > batch {
                let ids: Vec<String> = rows
                    .iter()
                    .map(|record| {
                        record
                            .get("Id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect();
                let cursor = QueryCursor {
                    object: Arc::from(plan.object.as_str()),
                    render: Arc::new(render.clone()),
                    ids: Arc::from(ids),
                };
                (Some(batch), Some(cursor))
            } else {
                (None, None)
            };
            Ok(QueryOutcome {
                page: QueryPage {
                    total_size,
                    records,
                    next_offset,
                },
                cursor,
            })
        }
    }
}

/// The batch of `cursor` starting at `offset` (from the locator). An offset past the end
/// gives an empty, finished page.
pub fn next_batch(
    source: &dyn QuerySource,
    cursor: &QueryCursor,
    offset: usize,
    options: &QueryOptions,
) -> QueryPage {
    let batch = options.batch();
    let start = offset.min(cursor.ids.len());
    let end = start.saturating_add(batch).min(cursor.ids.len());
    let version = options.version();
    let records = cursor.ids[start..end]
        .iter()
        .filter_map(|id| source.record_by_id(id))
        .map(|(_, record)| {
            cursor
                .render
                .render(source, &cursor.object, record, version)
        })
        .collect();
    QueryPage {
        total_size: cursor.ids.len(),
        records,
        next_offset: (end < cursor.ids.len()).then_some(end),
    }
}

pub(crate) enum SelectShape {
    Records(RenderNode),
    CountAll,
    Count {
        field: plan::ResolvedField,
        alias: Option<String>,
    },
    /// `GROUP BY`: one AggregateResult per distinct value of the grouped fields.
    Grouped {
        keys: Vec<plan::ResolvedField>,
        columns: Vec<GroupColumn>,
    },
}

/// One column of a grouped result, named as Salesforce names it: a grouped field by its
/// name, an aggregate by its alias or `expr0`, `expr1`... in select-list order (restforce
/// spec/fixtures/sobject/query_aggregate_success_response.json; SOQL and SOSL Reference,
/// "Using Aliases with GROUP BY").
pub(crate) enum GroupColumn {
    Key {
        name: String,
        index: usize,
    },
    Count {
        name: String,
        field: Option<plan::ResolvedField>,
    },
}

struct SelectPlan {
    object: String,
    shape: SelectShape,
    predicate: Option<Predicate>,
    order: Vec<SortKey>,
    limit: Option<u64>,
    offset: u64,
}

impl SelectPlan {
    fn build(
        context: &PlanContext<'_>,
        statement: &SelectStatement,
    ) -> Result<SelectPlan, QueryError> {
        let object = plan::resolve_object(context, &statement.object, statement.object_offset)?;
        let shape = if statement.clauses.group_by.is_empty() {
            select_shape(context, &object, &statement.items)?
        } else {
            grouped_shape(context, &object, statement)?
        };
        let predicate = statement
            .clauses
            .condition
            .as_ref()
            .map(|condition| plan::compile_condition(context, &object, condition))
            .transpose()?;
        let order = plan::compile_order(context, &object, &statement.clauses.order_by)?;
        Ok(SelectPlan {
            object,
            shape,
            predicate,
            order,
            limit: statement.clauses.limit,
            offset: statement.clauses.offset.unwrap_or(0),
        })
    }
}

/// Checks the select list and builds the render tree.
pub(crate) fn select_shape(
    context: &PlanContext<'_>,
    object: &str,
    items: &[SelectItem],
) -> Result<SelectShape, QueryError> {
    let aggregate_offset = items.iter().find_map(|item| match item {
        SelectItem::CountAll { offset } => Some(*offset),
        SelectItem::Count { path, .. } => Some(path.offset),
        SelectItem::Field(_) | SelectItem::Subquery { .. } => None,
    });
    if let Some(offset) = aggregate_offset {
        if items.len() > 1 {
            // COUNT() must stand alone; aggregates with plain fields need GROUP BY, which
            // the sandbox does not run.
            let reason = "Field must be grouped or aggregated: ".to_string()
                + &items
                    .iter()
                    .find_map(|item| match item {
                        SelectItem::Field(path) => Some(path.text.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
            return Err(QueryError::MalformedQuery {
                message: super::error::caret_message(context.statement, offset, &reason),
            });
        }
        return match &items[0] {
            SelectItem::CountAll { .. } => Ok(SelectShape::CountAll),
            SelectItem::Count { path, alias } => Ok(SelectShape::Count {
                field: plan::resolve_field(context, object, path)?,
                alias: alias.clone(),
            }),
            SelectItem::Field(_) | SelectItem::Subquery { .. } => Ok(SelectShape::CountAll),
        };
    }
    let mut render = RenderNode::default();
    for item in items {
        match item {
            SelectItem::Field(path) => {
                let field = plan::resolve_field(context, object, path)?;
                if !render.add(&field) {
                    return Err(QueryError::MalformedQuery {
                        message: super::error::caret_message(
                            context.statement,
                            path.offset,
                            &format!("duplicate field selected: {}", path.text),
                        ),
                    });
                }
            }
            SelectItem::Subquery { statement, .. } => {
                render.add_subquery(child_query(context, object, statement)?);
            }
            _ => {}
        }
    }
    Ok(SelectShape::Records(render))
}

/// Plans a parent-to-child subquery of `parent`. Its FROM is the child relationship, with
/// or without the parent's name in front (`Account.Contacts`, as recorded in
/// sf-fx-runtime-nodejs mappings/query-with-subquery.json).
fn child_query(
    context: &PlanContext<'_>,
    parent: &str,
    statement: &SelectStatement,
) -> Result<plan::ChildQuery, QueryError> {
    let written = statement.object.as_str();
    let name = match written.split_once('.') {
        Some((owner, name)) if owner.eq_ignore_ascii_case(parent) => name,
        _ => written,
    };
    let Some((relationship, object, foreign_key)) = context.source.child_relationship(parent, name)
    else {
        // Salesforce's wording for an unknown child relationship, under INVALID_TYPE.
        return Err(QueryError::InvalidType {
            message: super::error::caret_message(
                context.statement,
                statement.object_offset,
                &format!(
                    "Didn't understand relationship '{name}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            ),
        });
    };
    if statement
        .items
        .iter()
        .any(|item| !matches!(item, SelectItem::Field(_)))
    {
        return Err(QueryError::MalformedQuery {
            message: super::error::caret_message(
                context.statement,
                statement.object_offset,
                "a subquery selects fields only",
            ),
        });
    }
    let render = match select_shape(context, &object, &statement.items)? {
        SelectShape::Records(render) => render,
        _ => RenderNode::default(),
    };
    let predicate = statement
        .clauses
        .condition
        .as_ref()
        .map(|condition| plan::compile_condition(context, &object, condition))
        .transpose()?;
    let order = plan::compile_order(context, &object, &statement.clauses.order_by)?;
    Ok(plan::ChildQuery {
        relationship,
        object,
        foreign_key,
        render,
        predicate,
        order,
        limit: statement.clauses.limit,
    })
}

/// Checks a `GROUP BY` statement: every selected field is grouped, the rest are COUNTs.
fn grouped_shape(
    context: &PlanContext<'_>,
    object: &str,
    statement: &SelectStatement,
) -> Result<SelectShape, QueryError> {
    let keys = statement
        .clauses
        .group_by
        .iter()
        .map(|path| plan::resolve_field(context, object, path))
        .collect::<Result<Vec<_>, _>>()?;
    let mut columns = Vec::new();
    let mut unnamed = 0;
    let mut next_expr = || {
        let name = format!("expr{unnamed}");
        unnamed += 1;
        name
    };
    for item in &statement.items {
        match item {
            SelectItem::Field(path) => {
                let field = plan::resolve_field(context, object, path)?;
                let Some(index) = keys.iter().position(|key| *key == field) else {
                    return Err(QueryError::MalformedQuery {
                        message: super::error::caret_message(
                            context.statement,
                            path.offset,
                            &format!("Field must be grouped or aggregated: {}", path.text),
                        ),
                    });
                };
                columns.push(GroupColumn::Key {
                    name: field.name.clone(),
                    index,
                });
            }
            SelectItem::Count { path, alias } => {
                let field = plan::resolve_field(context, object, path)?;
                let name = alias.clone().unwrap_or_else(&mut next_expr);
                columns.push(GroupColumn::Count {
                    name,
                    field: Some(field),
                });
            }
            SelectItem::CountAll { .. } => columns.push(GroupColumn::Count {
                name: next_expr(),
                field: None,
            }),
            SelectItem::Subquery { offset, .. } => {
                return Err(QueryError::MalformedQuery {
                    message: super::error::caret_message(
                        context.statement,
                        *offset,
                        "a subquery cannot be grouped",
                    ),
                });
            }
        }
    }
    Ok(SelectShape::Grouped { keys, columns })
}

/// Groups `rows` (already filtered and sorted) into AggregateResult records, in the order
/// each group first appears.
fn group_rows(
    source: &dyn QuerySource,
    rows: &[&Record],
    keys: &[plan::ResolvedField],
    columns: &[GroupColumn],
) -> Vec<Value> {
    let mut groups: Vec<(Vec<Value>, Vec<&Record>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for record in rows {
        let values: Vec<Value> = keys
            .iter()
            .map(|key| plan::read(source, record, key).to_json())
            .collect();
        let signature = Value::Array(values.clone()).to_string();
        let position = *index.entry(signature).or_insert_with(|| {
            groups.push((values, Vec::new()));
            groups.len() - 1
        });
        groups[position].1.push(record);
    }
    groups
        .into_iter()
        .map(|(values, members)| {
            let mut record = Map::new();
            let mut attributes = Map::new();
            attributes.insert(
                "type".to_string(),
                Value::String("AggregateResult".to_string()),
            );
            record.insert("attributes".to_string(), Value::Object(attributes));
            for column in columns {
                match column {
                    GroupColumn::Key { name, index } => {
                        record.insert(name.clone(), values[*index].clone());
                    }
                    GroupColumn::Count { name, field } => {
                        let counted = members
                            .iter()
                            .filter(|member| {
                                field.as_ref().is_none_or(|field| {
                                    !plan::read(source, member, field).to_json().is_null()
                                })
                            })
                            .count();
                        record.insert(name.clone(), Value::from(counted));
                    }
                }
            }
            Value::Object(record)
        })
        .collect()
}

impl SelectShape {
    /// The render tree, for shapes that render records.
    pub(crate) fn render_node(self) -> Option<RenderNode> {
        match self {
            SelectShape::Records(render) => Some(render),
            _ => None,
        }
    }
}
