//! The `surveyd` binary: parse the command line and run it.

fn main() -> std::process::ExitCode {
    surveyd::cli::run()
}
