//! Tokens that must be refused are refused, with a reason.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use boxoffice_auth::keys::{self, PublicKeys, SigningKeys};
use boxoffice_auth::token::{
    AUDIENCE, Claims, ISSUER, TokenError, TokenIssuer, TokenKind, TokenVerifier,
};
use tempfile::TempDir;

fn issuer(dir: &TempDir) -> TokenIssuer {
    TokenIssuer::new(
        SigningKeys::load_or_create(dir.path()).unwrap(),
        ISSUER,
        Duration::from_secs(60),
        Duration::from_secs(600),
    )
}

fn verifier(dir: &TempDir) -> TokenVerifier {
    TokenVerifier::new(PublicKeys::load(dir.path()).unwrap(), ISSUER)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(typ: TokenKind, exp: u64) -> Claims {
    Claims {
        sub: "u1".into(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp,
        iat: now(),
        typ,
        ver: 3,
        adm: false,
    }
}

/// Replaces a token's payload, keeping its header and signature.
fn with_payload(token: &str, payload: &serde_json::Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = B64.encode(payload.to_string());
    parts.join(".")
}

#[test]
fn issued_tokens_verify_with_the_public_key_alone() {
    let dir = TempDir::new().unwrap();
    let pair = issuer(&dir).issue("u7", 2, true).unwrap();
    let access = verifier(&dir)
        .verify(&pair.access, TokenKind::Access)
        .unwrap();
    assert_eq!(
        (access.sub.as_str(), access.ver, access.adm),
        ("u7", 2, true)
    );
    let refresh = verifier(&dir)
        .verify(&pair.refresh, TokenKind::Refresh)
        .unwrap();
    assert!(refresh.exp > access.exp);
}

#[test]
fn forged_expired_and_misused_tokens_are_refused() {
    let dir = TempDir::new().unwrap();
    let issuer = issuer(&dir);
    let verifier = verifier(&dir);
    let good = issuer.sign(&claims(TokenKind::Access, now() + 60)).unwrap();

    let other_dir = TempDir::new().unwrap();
    let foreign = self::issuer(&other_dir)
        .sign(&claims(TokenKind::Access, now() + 60))
        .unwrap();
    // Refused whether its key id is unknown here or (same second) collides with ours.
    assert!(verifier.verify(&foreign, TokenKind::Access).is_err());
    let mut header = jsonwebtoken::decode_header(&foreign).unwrap();
    header.kid = Some("k-unknown".into());
    let parts: Vec<&str> = foreign.split('.').collect();
    let relabelled = format!(
        "{}.{}.{}",
        B64.encode(serde_json::to_string(&header).unwrap()),
        parts[1],
        parts[2]
    );
    assert!(matches!(
        verifier.verify(&relabelled, TokenKind::Access),
        Err(TokenError::UnknownKey)
    ));

    let expired = issuer
        .sign(&claims(TokenKind::Access, now() - 3600))
        .unwrap();
    assert!(matches!(
        verifier.verify(&expired, TokenKind::Access),
        Err(TokenError::Invalid(_))
    ));

    let mut promoted = serde_json::to_value(claims(TokenKind::Access, now() + 60)).unwrap();
    promoted["adm"] = true.into();
    let tampered = with_payload(&good, &promoted);
    assert!(matches!(
        verifier.verify(&tampered, TokenKind::Access),
        Err(TokenError::Invalid(_))
    ));

    let header = B64.encode(r#"{"alg":"none","typ":"JWT","kid":"x"}"#);
    let payload =
        B64.encode(serde_json::to_string(&claims(TokenKind::Access, now() + 60)).unwrap());
    let unsigned = format!("{header}.{payload}.");
    assert!(verifier.verify(&unsigned, TokenKind::Access).is_err());

    // HS256 "signed" with the public key as the secret: the classic
    // algorithm-confusion attack.
    let kid = PublicKeys::load(dir.path())
        .unwrap()
        .kids()
        .next()
        .unwrap()
        .to_owned();
    let public_pem = std::fs::read(dir.path().join(format!("{kid}.pub.pem"))).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    let confused = jsonwebtoken::encode(
        &header,
        &claims(TokenKind::Access, now() + 60),
        &jsonwebtoken::EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    assert!(matches!(
        verifier.verify(&confused, TokenKind::Access),
        Err(TokenError::Invalid(_))
    ));

    let refresh = issuer
        .sign(&claims(TokenKind::Refresh, now() + 60))
        .unwrap();
    assert!(matches!(
        verifier.verify(&refresh, TokenKind::Access),
        Err(TokenError::WrongKind { .. })
    ));
    assert!(
        verifier
            .verify(&issuer.service_token().unwrap(), TokenKind::Access)
            .is_err(),
        "wrong audience"
    );
    verifier
        .verify(&issuer.service_token().unwrap(), TokenKind::Service)
        .unwrap();
    assert!(verifier.verify("garbage", TokenKind::Access).is_err());
}

#[test]
fn rotation_signs_with_the_new_key_and_still_accepts_the_old() {
    let dir = TempDir::new().unwrap();
    let old = issuer(&dir).issue("u1", 0, false).unwrap();
    keys::generate(dir.path()).unwrap();
    let new_issuer = issuer(&dir);
    let new = new_issuer.issue("u1", 0, false).unwrap();
    let verifier = verifier(&dir);
    verifier.verify(&old.access, TokenKind::Access).unwrap();
    verifier.verify(&new.access, TokenKind::Access).unwrap();
    let old_kid = jsonwebtoken::decode_header(&old.access)
        .unwrap()
        .kid
        .unwrap();
    let new_kid = jsonwebtoken::decode_header(&new.access)
        .unwrap()
        .kid
        .unwrap();
    assert!(
        new_kid > old_kid,
        "{new_kid} should be newer than {old_kid}"
    );
}

#[tokio::test]
async fn passwords_hash_and_verify_and_unknown_users_never_match() {
    let passwords = boxoffice_auth::password::Passwords::new(2);
    let hash = passwords
        .hash("correct horse battery".into())
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(
        passwords
            .verify("correct horse battery".into(), Some(hash.clone()))
            .await
            .unwrap()
    );
    assert!(!passwords.verify("wrong".into(), Some(hash)).await.unwrap());
    assert!(!passwords.verify("anything".into(), None).await.unwrap());
}
