//! What the library reports through the `log` facade, printed the way the CLI prints:
//! warnings on stderr as `nabla: warning: ...` (health diagnoses as `nabla: health: ...`),
//! notes on stdout as they are.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Terminal;

impl Log for Terminal {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= Level::Info && m.target().starts_with("nabla")
    }
    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        match r.level() {
            Level::Info => println!("{}", r.args()),
            _ if r.target() == "nabla::health" => eprintln!("nabla: health: {}", r.args()),
            _ => eprintln!("nabla: warning: {}", r.args()),
        }
    }
    fn flush(&self) {}
}

/// Prints the library's notes and warnings from here on.
pub fn install() {
    if log::set_logger(&Terminal).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}
