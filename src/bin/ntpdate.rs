//! `ntpdate`: see [`ntp6::ntpdate`].

fn main() {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(ntp6::ntpdate::run::main(&args));
}
