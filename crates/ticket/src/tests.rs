use proptest::prelude::*;

use super::*;

fn hamlet(place: u32, version: u32) -> Ticket {
    Ticket {
        id: TicketId { booking: 17, place },
        show: "hamlet-1".into(),
        place_label: "Stalls F-4".into(),
        ticket_type: "concession".into(),
        version,
    }
}

fn cluster() -> (TicketSigner, TicketVerifier) {
    let signer = TicketSigner::from_seed("t1", &[7; 32]);
    let verifier = TicketVerifier::new([&signer.public_key()]).unwrap();
    (signer, verifier)
}

#[test]
fn a_signed_code_verifies_to_its_ticket() {
    let (signer, verifier) = cluster();
    let code = signer.sign(&hamlet(204, 0));
    assert!(code.starts_with(PREFIX));
    assert!(code.len() < 160, "{} characters: {code}", code.len());
    assert_eq!(verifier.verify(&code), Ok(hamlet(204, 0)));
    // As a USB scanner types it: with a line ending.
    assert_eq!(verifier.verify(&format!("{code}\r\n")), Ok(hamlet(204, 0)));
}

#[test]
fn a_code_signed_with_another_key_under_the_same_id_is_forged() {
    let (_, verifier) = cluster();
    let impostor = TicketSigner::from_seed("t1", &[8; 32]);
    let code = impostor.sign(&hamlet(204, 0));
    assert_eq!(verifier.verify(&code), Err(CodeError::Forged));
}

#[test]
fn a_code_signed_with_an_unknown_key_says_so() {
    let (_, verifier) = cluster();
    let other = TicketSigner::generate("elsewhere");
    let code = other.sign(&hamlet(204, 0));
    assert_eq!(
        verifier.verify(&code),
        Err(CodeError::UnknownKey("elsewhere".into()))
    );
}

#[test]
fn claims_changed_under_a_kept_signature_are_forged() {
    // An attacker re-encodes the claims with another seat and keeps the
    // genuine signature.
    let (signer, verifier) = cluster();
    let code = signer.sign(&hamlet(204, 0));
    let bytes = URL_SAFE_NO_PAD.decode(&code[PREFIX.len()..]).unwrap();
    let signature = &bytes[bytes.len() - 64..];
    let mut moved = hamlet(205, 0);
    moved.place_label = "Stalls A-1".into();
    let mut forged = postcard::to_stdvec(&Claims {
        kid: "t1".into(),
        ticket: moved,
    })
    .unwrap();
    forged.extend_from_slice(signature);
    let forged = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(forged));
    assert_eq!(verifier.verify(&forged), Err(CodeError::Forged));
}

#[test]
fn keys_rotate_old_codes_keep_verifying_while_their_key_is_trusted() {
    let old = TicketSigner::generate("t1");
    let new = TicketSigner::generate("t2");
    let both = TicketVerifier::new([&old.public_key(), &new.public_key()]).unwrap();
    let old_code = old.sign(&hamlet(1, 0));
    let new_code = new.sign(&hamlet(2, 0));
    assert_eq!(both.verify(&old_code).unwrap().id.place, 1);
    assert_eq!(both.verify(&new_code).unwrap().id.place, 2);
    let retired = TicketVerifier::new([&new.public_key()]).unwrap();
    assert_eq!(
        retired.verify(&old_code),
        Err(CodeError::UnknownKey("t1".into()))
    );
    assert_eq!(both.kids().collect::<Vec<_>>(), ["t1", "t2"]);
}

#[test]
fn garbage_is_not_a_ticket() {
    let (signer, verifier) = cluster();
    let code = signer.sign(&hamlet(204, 0));
    let long = format!("{PREFIX}{}", "A".repeat(MAX_CODE_LEN));
    let trailing = {
        let mut bytes = URL_SAFE_NO_PAD.decode(&code[PREFIX.len()..]).unwrap();
        bytes.insert(bytes.len() - 64, 0);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    };
    for bad in [
        "",
        "   ",
        "BT1.",
        "hello",
        "BT2.AAAA",
        "BT1.!!!!",
        "BT1.AAAA",
        &code[PREFIX.len()..],
        &code[..code.len() - 1],
        &long,
        &trailing,
    ] {
        assert!(
            matches!(
                verifier.verify(bad),
                Err(CodeError::NotATicket | CodeError::Forged)
            ),
            "{bad:?} accepted"
        );
    }
    assert_eq!(verifier.verify("hello"), Err(CodeError::NotATicket));
}

#[test]
fn a_public_key_that_is_not_a_point_is_refused() {
    // About half of all 32-byte strings are no curve point's encoding.
    let bad = (0u8..=255)
        .map(|b| [b; 32])
        .find(|k| VerifyingKey::from_bytes(k).is_err())
        .expect("some byte pattern is not a point");
    let key = PublicTicketKey {
        kid: "broken".into(),
        key: bad,
    };
    assert_eq!(
        TicketVerifier::new([&key]).unwrap_err(),
        BadKey("broken".into())
    );
}

#[test]
fn the_private_key_is_not_printed() {
    let signer = TicketSigner::from_seed("t1", &[7; 32]);
    let printed = format!("{signer:?}");
    assert!(printed.contains("t1"));
    assert!(!printed.contains("7, 7"), "{printed}");
    assert_eq!(
        TicketSigner::from_seed("t1", &signer.seed()).public_key(),
        signer.public_key()
    );
}

#[test]
fn ticket_ids_read_and_print() {
    let id: TicketId = "17-204".parse().unwrap();
    assert_eq!(
        id,
        TicketId {
            booking: 17,
            place: 204
        }
    );
    assert_eq!(id.to_string(), "17-204");
    for bad in [
        "",
        "17",
        "17-",
        "-204",
        "a-1",
        "1-2-3",
        "+1-2",
        "99999999999999999999-1",
    ] {
        assert_eq!(
            bad.parse::<TicketId>(),
            Err(BadTicketId(bad.into())),
            "{bad}"
        );
    }
}

fn ticket() -> impl Strategy<Value = Ticket> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        "[a-z0-9-]{1,20}",
        "[A-Za-z0-9 -]{1,30}",
        "[a-z]{0,12}",
    )
        .prop_map(
            |(booking, place, version, show, place_label, ticket_type)| Ticket {
                id: TicketId { booking, place },
                show,
                place_label,
                ticket_type,
                version,
            },
        )
}

proptest! {
    /// Every ticket's code verifies to exactly that ticket.
    #[test]
    fn codes_round_trip(ticket in ticket()) {
        let (signer, verifier) = cluster();
        prop_assert_eq!(verifier.verify(&signer.sign(&ticket)), Ok(ticket));
    }

    /// Changing any one character of a code makes it refused: no edit
    /// yields another valid ticket.
    #[test]
    fn any_changed_character_is_refused(
        ticket in ticket(),
        at in any::<prop::sample::Index>(),
        to in "[A-Za-z0-9_.-]",
    ) {
        let (signer, verifier) = cluster();
        let code = signer.sign(&ticket);
        let i = at.index(code.len());
        prop_assume!(code[i..=i] != to);
        let changed = format!("{}{}{}", &code[..i], to, &code[i + 1..]);
        prop_assert!(verifier.verify(&changed).is_err(), "{} accepted", changed);
    }
}
