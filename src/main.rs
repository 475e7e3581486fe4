//! The `surveyd` binary: parse the command line and run it.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    surveyd::cli::run()
}
