//! Compiles the protobuf files under `proto/` with a vendored `protoc`, so a
//! fresh machine needs no system protobuf compiler.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY-free: build scripts are single threaded, setting our own env is fine.
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    unsafe { std::env::set_var("PROTOC", protoc) };

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "boxoffice/v1/booking.proto",
        "boxoffice/v1/venues.proto",
        "boxoffice/v1/cluster.proto",
        "boxoffice/v1/auth.proto",
        "boxoffice/v1/payment.proto",
        "boxoffice/v1/chatbot.proto",
        "boxoffice/internal/v1/raft.proto",
        "boxoffice/internal/v1/accounts.proto",
        "boxoffice/internal/v1/checkout.proto",
        "legacy/auth.proto",
        "legacy/booking.proto",
        "legacy/payment.proto",
        "legacy/chatbot.proto",
    ];
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // Card numbers must never reach a log: `Debug` for Card (last four
        // digits only) and for RelayRequest (which carries cards) is
        // written by hand in lib.rs.
        .skip_debug(["boxoffice.v1.Card", "boxoffice.internal.v1.RelayRequest"])
        .file_descriptor_set_path(out.join("boxoffice_descriptor.bin"))
        .compile_protos(&files.map(|f| root.join(f)), std::slice::from_ref(&root))?;
    for f in files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    Ok(())
}
