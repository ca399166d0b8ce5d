//! PostgreSQL rotation Lambda. The backend arrives with the PostgreSQL issue; until then this
//! binary refuses to start rather than pretend to rotate.

fn main() -> std::process::ExitCode {
    eprintln!("secret-rotation-postgres: the PostgreSQL backend is not built yet");
    std::process::ExitCode::FAILURE
}
