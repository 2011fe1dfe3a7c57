//! Generated protobuf and gRPC code for Boxoffice.
//!
//! - [`v1`]: the public API (`boxoffice.v1`), what clients speak.
//! - [`internal`]: node-to-node traffic (`boxoffice.internal.v1`): Raft RPCs,
//!   write forwarding, read index, per-node status. Not a stable API.
//! - [`FILE_DESCRIPTOR_SET`]: every file, for gRPC server reflection.
//!
//! [`convert`] turns domain types into these messages and domain
//! rejections into gRPC statuses, once, for every service.

#![deny(missing_docs)]

pub mod convert;

#[cfg(test)]
mod tests {
    use crate::v1::Card;

    #[test]
    fn a_card_debug_shows_only_the_last_four_digits() {
        let card = Card {
            number: "4242 4242 4242 1234".into(),
            exp_month: 12,
            exp_year: 2099,
            cvc: "987".into(),
        };
        let shown = format!("{card:?}");
        assert!(shown.contains("…1234"), "{shown}");
        assert!(!shown.contains("4242") && !shown.contains("987"), "{shown}");
    }
}

/// The public API, package `boxoffice.v1`.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    tonic::include_proto!("boxoffice.v1");
}

/// Shows only the last four digits, so a card never reaches a log whole.
impl std::fmt::Debug for v1::Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits: Vec<char> = self.number.chars().filter(char::is_ascii_digit).collect();
        let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
        f.debug_struct("Card")
            .field("number", &format_args!("…{last4}"))
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &"<redacted>")
            .finish()
    }
}

/// Relayed checkouts carry cards: their sizes only.
impl std::fmt::Debug for internal::v1::RelayRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayRequest")
            .field("checkouts", &self.checkouts.len())
            .field("bytes", &self.checkouts.iter().map(Vec::len).sum::<usize>())
            .finish()
    }
}

/// Node-to-node traffic, package `boxoffice.internal.v1`.
#[allow(missing_docs, clippy::all)]
pub mod internal {
    /// Version 1 (the module path mirrors the package, so that generated
    /// cross-package references resolve).
    pub mod v1 {
        tonic::include_proto!("boxoffice.internal.v1");
    }
}

/// The old system's contract (packages `auth`, `booking`, `payment`,
/// `chatbot`), kept on the wire for its clients; see `proto/legacy`.
#[allow(missing_docs, clippy::all)]
pub mod legacy {
    /// Package `auth`.
    pub mod auth {
        tonic::include_proto!("auth");
    }
    /// Package `booking`.
    pub mod booking {
        tonic::include_proto!("booking");
    }
    /// Package `payment`.
    pub mod payment {
        tonic::include_proto!("payment");
    }
    /// Package `chatbot`.
    pub mod chatbot {
        tonic::include_proto!("chatbot");
    }
}

/// Encoded `FileDescriptorSet` of every proto file, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("boxoffice_descriptor");

/// Why [`reflection`] could not be built.
pub use tonic_reflection::server::Error as ReflectionError;

/// The gRPC reflection service of a port that serves `services` (their
/// full names) and the health service: it lists exactly those, and
/// describes them from [`FILE_DESCRIPTOR_SET`], so `grpcurl` and other
/// tools can call any Boxoffice port without the proto files. (Other
/// services' descriptors in the set can still be fetched by symbol name;
/// describing a service gives no access to it.)
pub fn reflection(
    services: &[&str],
) -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::Error,
> {
    use tonic::server::NamedService as _;
    let health = <tonic_health::pb::health_server::HealthServer<()>>::NAME;
    services
        .iter()
        .chain([&health])
        .fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(*name),
        )
        .build_v1()
}
