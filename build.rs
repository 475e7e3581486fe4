//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the folder at compile time,
//! and cargo does not watch a folder for new files unless told.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
