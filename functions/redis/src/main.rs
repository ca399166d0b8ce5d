//! Redis rotation Lambda. The backend arrives with the Redis issue; until then this
//! binary refuses to start rather than pretend to rotate.

fn main() -> std::process::ExitCode {
    eprintln!("secret-rotation-redis: the Redis backend is not built yet");
    std::process::ExitCode::FAILURE
}
