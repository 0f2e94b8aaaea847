#![forbid(unsafe_code)]

fn main() {
    let code = vitals_agent::cli::run(std::env::args_os());
    std::process::exit(code);
}
