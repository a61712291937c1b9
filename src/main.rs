fn main() -> std::process::ExitCode {
    wharf::cli::run()
}
