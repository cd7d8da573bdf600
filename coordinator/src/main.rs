use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = ferry::cli::Cli::parse();
    ferry::cli::init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(ferry::cli::run(cli))
}
