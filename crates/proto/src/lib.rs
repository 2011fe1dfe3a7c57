//! Generated protobuf and gRPC code for Boxoffice.
//!
//! - [`v1`]: the public API (`boxoffice.v1`), what clients speak.
//! - [`internal`]: node-to-node traffic (`boxoffice.internal.v1`): Raft RPCs,
//!   write forwarding, read index, per-node status. Not a stable API.
//! - [`FILE_DESCRIPTOR_SET`]: every file, for gRPC server reflection.
//!
//! Conversions between these messages and the domain types live in the node
//! crate, at the gRPC edge, so this crate stays pure generated code.

#![allow(missing_docs, clippy::all)]

/// The public API, package `boxoffice.v1`.
pub mod v1 {
    tonic::include_proto!("boxoffice.v1");
}

/// Node-to-node traffic, package `boxoffice.internal.v1`.
pub mod internal {
    /// Version 1 (the module path mirrors the package, so that generated
    /// cross-package references resolve).
    pub mod v1 {
        tonic::include_proto!("boxoffice.internal.v1");
    }
}

/// Metadata key in which a caller names itself until session tokens exist
/// (development identity; see the node's `caller` module).
pub const USER_METADATA_KEY: &str = "x-boxoffice-user";

/// Encoded `FileDescriptorSet` of every proto file, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("boxoffice_descriptor");
