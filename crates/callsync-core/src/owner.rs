//! Who owns and who writes the Task (R7).

use serde::{Deserialize, Serialize};

use crate::call::{Call, CallKind};
use crate::event::TransferKind;
use crate::ids::SalesforceId;
use crate::phone::{PhoneNumber, PhoneRegion};
use crate::settings::{OwnerRule, Settings};

/// What the service knows about the Salesforce users involved in one call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OwnerInputs {
    /// The Salesforce user linked to the callsync user who handled the call.
    pub handler_user: Option<SalesforceId>,
    /// The `OwnerId` of the linked record (R7 `record_owner`).
    pub record_owner: Option<SalesforceId>,
    /// The organisation's default Salesforce user (writes calls nobody handled).
    pub org_default_user: Option<SalesforceId>,
    /// Users known to be inactive (`IsActive = false`) among the above.
    pub inactive_users: Vec<SalesforceId>,
    /// For an auto-forwarded call: the user whose `Phone` equals the forward destination,
    /// see [`forward_destination_user`].
    pub forward_destination_user: Option<SalesforceId>,
}

/// Who writes and who owns the Task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerDecision {
    /// The user whose credentials write the Task (`CreatedById`); `None` when neither the
    /// handler nor the organisation has a linked Salesforce user, which the service reports.
    pub writer: Option<SalesforceId>,
    /// `OwnerId`; `None` leaves Salesforce's default (the writer).
    pub owner: Option<SalesforceId>,
    /// The user the rule chose but who is inactive, so the writer owns the Task instead; the
    /// service notes it once in the error log.
    pub inactive_owner: Option<SalesforceId>,
}

/// The user among `users` (Id, `Phone`) whose phone is the auto-forward destination of the
/// call, compared in normal form (R3.6); ties go to the greatest Id so the answer is stable.
pub fn forward_destination_user(
    call: &Call,
    users: &[(SalesforceId, String)],
    region: PhoneRegion,
) -> Option<SalesforceId> {
    let transfer = call
        .transfer()
        .filter(|transfer| transfer.kind == TransferKind::AutoForward)?;
    user_with_phone(&transfer.destination, users, region)
}

/// The user among `users` (Id, `Phone`) whose phone is `number`, compared in normal form
/// (R3.6), or `None` (also when `number` is no phone number). Several users with that phone:
/// the greatest Id, so the answer does not depend on the order Salesforce lists them in (R7
/// auto-forward). Inactive users are not filtered out here: R7's inactive-owner fallback in
/// [`choose_owner`] decides about them.
pub fn user_with_phone(
    number: &str,
    users: &[(SalesforceId, String)],
    region: PhoneRegion,
) -> Option<SalesforceId> {
    let wanted = PhoneNumber::parse(number, region).ok()?;
    users
        .iter()
        .filter(|(_, phone)| {
            PhoneNumber::parse(phone, region).is_ok_and(|phone| phone.same_number(&wanted))
        })
        .map(|(id, _)| id)
        .max()
        .cloned()
}

/// Applies R7:
/// - nobody handled the call: the organisation's default user writes and owns it;
/// - an answered auto-forward: the user at the destination number, else the handler;
/// - otherwise the rule: `handler`, `record_owner` (the handler when unlinked), `fixed`;
/// - an inactive chosen owner falls back to the writer.
pub fn choose_owner(call: &Call, settings: &Settings, inputs: &OwnerInputs) -> OwnerDecision {
    if call.user().is_none() {
        return OwnerDecision {
            writer: inputs.org_default_user.clone(),
            owner: inputs.org_default_user.clone(),
            inactive_owner: None,
        };
    }
    let writer = inputs
        .handler_user
        .clone()
        .or_else(|| inputs.org_default_user.clone());
    let chosen = if call.kind() == Some(CallKind::Transfer(TransferKind::AutoForward)) {
        inputs
            .forward_destination_user
            .clone()
            .or_else(|| inputs.handler_user.clone())
    } else {
        match &settings.owner_rule {
            OwnerRule::Handler => inputs.handler_user.clone(),
            OwnerRule::RecordOwner => inputs
                .record_owner
                .clone()
                .or_else(|| inputs.handler_user.clone()),
            OwnerRule::Fixed { user } => Some(user.clone()),
        }
    };
    let chosen = chosen.or_else(|| writer.clone());
    match chosen {
        Some(owner) if inputs.inactive_users.contains(&owner) => OwnerDecision {
            owner: writer.clone(),
            writer,
            inactive_owner: Some(owner),
        },
        owner => OwnerDecision {
            writer,
            owner,
            inactive_owner: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::tests::{Script, ended};
    use crate::event::{Direction, EndOutcome, EventBody, MemoSaved, Transferred};

    fn id(text: &str) -> SalesforceId {
        SalesforceId::parse(text).unwrap()
    }

    const HANDLER: &str = "005000000000001";
    const RECORD_OWNER: &str = "005000000000002";
    const FIXED: &str = "005000000000003";
    const DEFAULT: &str = "005000000000004";
    const FORWARDED: &str = "005000000000005";

    fn inputs() -> OwnerInputs {
        OwnerInputs {
            handler_user: Some(id(HANDLER)),
            record_owner: Some(id(RECORD_OWNER)),
            org_default_user: Some(id(DEFAULT)),
            inactive_users: vec![],
            forward_destination_user: None,
        }
    }

    fn answered_call(user: Option<&'static str>) -> Call {
        let mut s = Script::new(Direction::Outbound);
        s.user = user;
        Call::fold(&[
            s.event(0, EventBody::Dialing),
            s.event(5, EventBody::Answered),
        ])
        .unwrap()
    }

    fn settings(rule: OwnerRule) -> Settings {
        Settings {
            owner_rule: rule,
            ..Settings::default()
        }
    }

    #[test]
    fn r7_default_owner_is_the_handlers_salesforce_user() {
        let decision = choose_owner(
            &answered_call(Some("u-1")),
            &settings(OwnerRule::Handler),
            &inputs(),
        );
        assert_eq!(decision.owner, Some(id(HANDLER)));
        assert_eq!(decision.writer, Some(id(HANDLER)));
    }

    #[test]
    fn r7_record_owner_rule_uses_the_linked_records_owner() {
        let decision = choose_owner(
            &answered_call(Some("u-1")),
            &settings(OwnerRule::RecordOwner),
            &inputs(),
        );
        assert_eq!(decision.owner, Some(id(RECORD_OWNER)));
    }

    #[test]
    fn r7_record_owner_rule_falls_back_to_the_handler_when_unlinked() {
        let unlinked = OwnerInputs {
            record_owner: None,
            ..inputs()
        };
        let decision = choose_owner(
            &answered_call(Some("u-1")),
            &settings(OwnerRule::RecordOwner),
            &unlinked,
        );
        assert_eq!(decision.owner, Some(id(HANDLER)));
    }

    #[test]
    fn r7_fixed_rule_uses_the_fixed_user() {
        let decision = choose_owner(
            &answered_call(Some("u-1")),
            &settings(OwnerRule::Fixed { user: id(FIXED) }),
            &inputs(),
        );
        assert_eq!(decision.owner, Some(id(FIXED)));
        assert_eq!(decision.writer, Some(id(HANDLER)));
    }

    #[test]
    fn r7_a_call_nobody_handled_is_written_and_owned_by_the_org_default_user() {
        let mut s = Script::new(Direction::Inbound);
        s.user = None;
        let call = Call::fold(&[
            s.event(0, EventBody::Ringing),
            s.event(30, ended(0, EndOutcome::NoAnswer)),
        ])
        .unwrap();
        let decision = choose_owner(
            &call,
            &settings(OwnerRule::Fixed { user: id(FIXED) }),
            &inputs(),
        );
        assert_eq!(decision.owner, Some(id(DEFAULT)));
        assert_eq!(decision.writer, Some(id(DEFAULT)));
    }

    #[test]
    fn r7_a_memo_saved_later_does_not_make_its_author_the_handler() {
        let mut s = Script::new(Direction::Inbound);
        s.user = None;
        let ringing = s.event(0, EventBody::Ringing);
        let missed = s.event(30, ended(0, EndOutcome::NoAnswer));
        s.user = Some("u-9");
        let memo = s.event(
            600,
            EventBody::MemoSaved(MemoSaved {
                values: vec!["折り返し".into()],
                note: None,
            }),
        );
        let call = Call::fold(&[ringing, missed, memo]).unwrap();
        assert_eq!(call.user(), None);
        let decision = choose_owner(&call, &settings(OwnerRule::Handler), &inputs());
        assert_eq!(decision.owner, Some(id(DEFAULT)));
    }

    #[test]
    fn r7_an_inactive_owner_falls_back_to_the_writer_and_is_reported() {
        let with_inactive = OwnerInputs {
            inactive_users: vec![id(FIXED)],
            ..inputs()
        };
        let decision = choose_owner(
            &answered_call(Some("u-1")),
            &settings(OwnerRule::Fixed { user: id(FIXED) }),
            &with_inactive,
        );
        assert_eq!(decision.owner, Some(id(HANDLER)));
        assert_eq!(decision.inactive_owner, Some(id(FIXED)));
    }

    fn auto_forwarded_call() -> Call {
        let mut s = Script::new(Direction::Inbound);
        Call::fold(&[
            s.event(0, EventBody::Ringing),
            s.event(
                2,
                EventBody::Transferred(Transferred {
                    kind: TransferKind::AutoForward,
                    destination: "090-1111-2222".into(),
                }),
            ),
            s.event(5, EventBody::Answered),
        ])
        .unwrap()
    }

    #[test]
    fn r7_auto_forward_is_owned_by_the_user_whose_phone_is_the_destination() {
        let call = auto_forwarded_call();
        let users = [
            (id(RECORD_OWNER), "03-1234-5678".to_owned()),
            (id(FORWARDED), "+81 90 1111 2222".to_owned()),
        ];
        let forwarded = forward_destination_user(&call, &users, PhoneRegion::JAPAN);
        assert_eq!(forwarded, Some(id(FORWARDED)));
        let with_forward = OwnerInputs {
            forward_destination_user: forwarded,
            ..inputs()
        };
        let decision = choose_owner(&call, &settings(OwnerRule::RecordOwner), &with_forward);
        assert_eq!(decision.owner, Some(id(FORWARDED)));
    }

    #[test]
    fn r7_auto_forward_without_a_user_at_the_destination_is_owned_by_the_linked_user() {
        let call = auto_forwarded_call();
        assert_eq!(
            forward_destination_user(
                &call,
                &[(id(FORWARDED), "0399999999".into())],
                PhoneRegion::JAPAN
            ),
            None
        );
        let decision = choose_owner(&call, &settings(OwnerRule::RecordOwner), &inputs());
        assert_eq!(decision.owner, Some(id(HANDLER)));
    }

    #[test]
    fn r7_the_user_at_a_number_is_found_in_any_spelling_and_ties_go_to_the_greatest_id() {
        let low = SalesforceId::parse("005000000000001").unwrap();
        let high = SalesforceId::parse("005000000000009").unwrap();
        let other = SalesforceId::parse("005000000000005").unwrap();
        let users = |order: &[(&SalesforceId, &str)]| -> Vec<(SalesforceId, String)> {
            order
                .iter()
                .map(|(id, phone)| ((*id).clone(), (*phone).to_owned()))
                .collect()
        };
        for (case, listed, number, expected) in [
            (
                "one user, another spelling",
                users(&[(&low, "+81 90-1111-2222"), (&other, "03-0000-0000")]),
                "090-1111-2222",
                Some(&low),
            ),
            (
                "two users with the number: the greatest Id",
                users(&[(&high, "09011112222"), (&low, "090-1111-2222")]),
                "090-1111-2222",
                Some(&high),
            ),
            (
                "the same two listed the other way round",
                users(&[(&low, "090-1111-2222"), (&high, "09011112222")]),
                "090-1111-2222",
                Some(&high),
            ),
            (
                "nobody has the number",
                users(&[(&other, "03-0000-0000")]),
                "090-1111-2222",
                None,
            ),
            (
                "not a number at all",
                users(&[(&other, "03-0000-0000")]),
                "reception",
                None,
            ),
        ] {
            assert_eq!(
                user_with_phone(number, &listed, PhoneRegion::JAPAN).as_ref(),
                expected,
                "{case}"
            );
        }
    }
}
