//! `ntptime`: see [`ntp6::ntptime`].

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(ntp6::ntptime::main(&args));
}
