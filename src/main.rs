fn main() -> std::process::ExitCode {
    blindspot::command_line()
}
