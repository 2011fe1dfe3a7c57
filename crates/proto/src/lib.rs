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

/// The public API, package `boxoffice.v1`.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    tonic::include_proto!("boxoffice.v1");
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

/// Encoded `FileDescriptorSet` of every proto file, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("boxoffice_descriptor");
