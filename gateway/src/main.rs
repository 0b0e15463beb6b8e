//! `gateway`: see [`gateway::process`].

fn main() -> std::process::ExitCode {
    gateway::process::main(clap::Parser::parse())
}
