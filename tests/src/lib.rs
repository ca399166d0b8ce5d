//! The local stack: real services as processes on 127.0.0.1, each on a free port in a temp dir,
//! stopped when their handle drops or when the process that started them exits.

pub mod capture;
pub mod emulator;
pub mod fake;
pub mod faults;
pub mod http;
pub mod iam;
pub mod lambda;
pub mod managed_redis;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod recording;
pub mod redis;
pub mod relay;
pub mod reliability;
pub mod secrecy;
pub mod tls;

pub use capture::LogCapture;
pub use emulator::Emulator;
pub use lambda::FunctionProcess;
pub use postgres::PostgresServer;
pub use process::ServiceProcess;
pub use redis::RedisServer;
