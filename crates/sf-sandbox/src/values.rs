//! Turning JSON values from a request into the values a field stores, the way Salesforce's
//! REST API coerces and rejects them, and the date/time formats it renders.

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;

use crate::error::ErrorItem;
use crate::ids::RecordId;
use crate::query::source::FieldType;
use crate::schema::FieldDef;

/// Salesforce renders datetimes as `2024-01-31T09:30:00.000+0000` (UTC, milliseconds,
/// offset without colon), as every recorded response shows.
pub fn format_datetime(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parses the datetime forms clients send (`Z`, `+09:00`, `+0900`, with or without
/// fractions) into a timestamp.
pub fn parse_datetime(text: &str) -> Option<Timestamp> {
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Some(timestamp);
    }
    // `+0000` (no colon) is Salesforce's own output form: accept it back.
    let bytes = text.as_bytes();
    if bytes.len() > 5 {
        let split = bytes.len() - 5;
        let (head, offset) = text.split_at(split);
        if (offset.starts_with('+') || offset.starts_with('-'))
            && offset[1..].bytes().all(|byte| byte.is_ascii_digit())
        {
            let with_colon = format!("{head}{}:{}", &offset[..3], &offset[3..]);
            return with_colon.parse::<Timestamp>().ok();
        }
    }
    None
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<Date> {
    text.parse::<Date>().ok()
}

fn deserialize_error(type_name: &str, value: &Value) -> ErrorItem {
    // Salesforce answers a value of the wrong JSON type with its deserializer's message
    // under JSON_PARSER_ERROR ("Cannot deserialize instance of boolean from VALUE_STRING
    // value ..."); the position is not reproduced.
    let token = match value {
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    };
    let shown = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    ErrorItem::new(
        "JSON_PARSER_ERROR",
        format!(
            "Cannot deserialize instance of {type_name} from {token} value {shown} or request may be missing a required field"
        ),
    )
}

/// Coerces one non-null input value for `field`. Errors are record-level items.
pub fn coerce(field: &FieldDef, value: &Value) -> Result<Value, ErrorItem> {
    match &field.field_type {
        FieldType::Boolean => match value {
            Value::Bool(flag) => Ok(Value::Bool(*flag)),
            Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            other => Err(deserialize_error("boolean", other)),
        },
        FieldType::Int => match value {
            Value::Number(number) if number.is_i64() => Ok(value.clone()),
            Value::Number(number) => match number.as_f64() {
                Some(float) if float.fract() == 0.0 => Ok(Value::from(float as i64)),
                _ => Err(deserialize_error("int", value)),
            },
            Value::String(text) => text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| deserialize_error("int", value)),
            other => Err(deserialize_error("int", other)),
        },
        FieldType::Double | FieldType::Currency => match value {
            Value::Number(_) => Ok(value.clone()),
            Value::String(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| deserialize_error("double", value)),
            other => Err(deserialize_error("double", other)),
        },
        FieldType::Date => match value {
            Value::String(text) => {
                // A datetime is accepted for a date field and its date part kept.
                let date_part = text.get(..10).unwrap_or(text);
                parse_date(date_part)
                    .map(|date| Value::String(date.to_string()))
                    .ok_or_else(|| deserialize_error("date", value))
            }
            other => Err(deserialize_error("date", other)),
        },
        FieldType::DateTime => match value {
            Value::String(text) => parse_datetime(text)
                .map(|timestamp| Value::String(format_datetime(timestamp)))
                .ok_or_else(|| deserialize_error("datetime", value)),
            other => Err(deserialize_error("datetime", other)),
        },
        FieldType::Id | FieldType::Reference { .. } => match value {
            Value::String(text) if text.is_empty() => Ok(Value::Null),
            Value::String(text) => RecordId::parse(text)
                .map(|id| Value::String(id.as_str().to_string()))
                .map_err(|_| {
                    ErrorItem::with_fields(
                        "MALFORMED_ID",
                        format!("{}: id value of incorrect type: {text}", field.label),
                        &[&field.name],
                    )
                }),
            other => Err(deserialize_error("id", other)),
        },
        FieldType::String
        | FieldType::TextArea
        | FieldType::Phone
        | FieldType::Email
        | FieldType::Url
        | FieldType::Picklist
        | FieldType::MultiPicklist => {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                other => return Err(deserialize_error("string", other)),
            };
            check_text(field, text)
        }
    }
}

fn check_text(field: &FieldDef, text: String) -> Result<Value, ErrorItem> {
    if text.is_empty() {
        // Salesforce stores an empty string as null.
        return Ok(Value::Null);
    }
    let length = text.chars().count();
    if field.length > 0 && length > field.length as usize {
        // "Description: data value too large: <value> (max length=255)", seen in public
        // issue reports of STRING_TOO_LONG (e.g. SalesforceLabs/Milestones-PM#32).
        return Err(ErrorItem::with_fields(
            "STRING_TOO_LONG",
            format!(
                "{}: data value too large: {text} (max length={})",
                field.label, field.length
            ),
            &[&field.name],
        ));
    }
    if matches!(field.field_type, FieldType::Email) && !looks_like_email(&text) {
        return Err(ErrorItem::with_fields(
            "INVALID_EMAIL_ADDRESS",
            format!("{}: invalid email address: {text}", field.label),
            &[&field.name],
        ));
    }
    if field.restricted_picklist {
        let values: Vec<&str> = if matches!(field.field_type, FieldType::MultiPicklist) {
            text.split(';').map(str::trim).collect()
        } else {
            vec![text.as_str()]
        };
        for value in &values {
            if !field.picklist.iter().any(|allowed| allowed.value == *value) {
                // mappings/create-invalid-picklist-value.json: "<Label>: bad value for
                // restricted picklist field: <value>", fields [<API name>].
                return Err(ErrorItem::with_fields(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    format!(
                        "{}: bad value for restricted picklist field: {value}",
                        field.label
                    ),
                    &[&field.name],
                ));
            }
        }
        if matches!(field.field_type, FieldType::MultiPicklist) {
            return Ok(Value::String(values.join(";")));
        }
    }
    Ok(Value::String(text))
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.contains(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_rendered_in_salesforce_form_and_read_back() {
        let timestamp = parse_datetime("2024-01-31T18:30:00+09:00").unwrap();
        assert_eq!(format_datetime(timestamp), "2024-01-31T09:30:00.000+0000");
        assert_eq!(
            parse_datetime("2024-01-31T09:30:00.000+0000"),
            Some(timestamp)
        );
        assert_eq!(parse_datetime("2024-01-31T09:30:00Z"), Some(timestamp));
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
