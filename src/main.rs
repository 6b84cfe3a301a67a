fn main() -> std::process::ExitCode {
    blindspot::cli::main()
}
