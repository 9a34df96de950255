//! SYNC_HWCLOCK for ntpdate (Red Hat's boot-time ntpdate service): after a successful run
//! that set the clock, the RTC is set from it; a query run leaves it alone. Our ntpd serves
//! LOCAL(0) in a fresh namespace; ntpdate steers a virtual clock that starts 40 s ahead,
//! sends from an unprivileged port (-u, ntpd holds 123) and drops to user ntp (-U) after
//! opening the RTC stand-in, as the RHEL6 OPTIONS do. The boot-time ntpdate service
//! (/etc/init.d/ntpdate and its wrapper) is run the same way on a staged install.

mod common;

use common::{Netns, LOCAL_CONF};
use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn successful_ntpdate_sets_the_rtc_and_a_query_does_not() {
    let Some(b) = common::bench::<Netns>(LOCAL_CONF, None) else {
        return;
    };
    let have_ntp = std::process::Command::new("id")
        .arg("ntp")
        .output()
        .is_ok_and(|o| o.status.success());
    let sysconfig = b.tmp.write(
        "sysconfig-ntpdate",
        "OPTIONS=\"-U ntp -s -b\"\nSYNC_HWCLOCK=yes\n",
    );
    let rtc = b.tmp.write("rtc", "");
    let ntpdate = env!("CARGO_BIN_EXE_ntpdate");
    let argv = vec![
        ntpdate,
        "--virtual-clock",
        "40",
        "--sysconfig",
        &sysconfig,
        "--rtc-device",
        &rtc,
        "-p",
        "1",
        "-u",
    ];
    let run = |extra: &[&str]| {
        let mut a = argv.clone();
        a.extend_from_slice(extra);
        a.push("127.0.0.1");
        b.net.run(&b.tmp, &a, Duration::from_secs(30))
    };

    let query = run(&["-q"]);
    assert_eq!(query.code, Some(0), "{query:?}");
    assert_eq!(
        fs::read_to_string(&rtc).unwrap(),
        "",
        "a query run wrote the RTC"
    );

    let set = if have_ntp {
        run(&["-U", "ntp", "-b"])
    } else {
        run(&["-b"])
    };
    assert_eq!(set.code, Some(0), "{set:?}");
    assert!(set.stdout.contains("step time server 127.0.0.1"), "{set:?}");
    let line = fs::read_to_string(&rtc).unwrap();
    assert!(line.ends_with(" UTC\n"), "{line:?}");
    // The virtual clock was stepped back to the server's (true) time before the RTC write.
    let off = common::utc_text_unix(&line) - now_unix();
    assert!(
        (-3..=2).contains(&off),
        "RTC {line:?} is {off} s off true time"
    );
    assert!(set.stdout.contains(&format!("RTC {rtc} set to")), "{set:?}");
}

#[test]
fn ntpdate_service_uses_step_tickers_and_sysconfig() {
    let Some(b) = common::bench::<Netns>(LOCAL_CONF, None) else {
        return;
    };
    let root = common::install_staged(&b.tmp);
    let r = root.display();
    fs::write(root.join("etc/ntp/step-tickers"), "# servers\n127.0.0.1\n").unwrap();
    fs::write(
        root.join("etc/sysconfig/ntpdate"),
        format!(
            "OPTIONS=\"-u -b -p 1 --virtual-clock 40 --sysconfig {r}/etc/sysconfig/ntpdate \
             --rtc-device {r}/dev/rtc\"\nRETRIES=1\nSYNC_HWCLOCK=yes\n"
        ),
    )
    .unwrap();
    fs::create_dir_all(root.join("dev")).unwrap();
    fs::write(root.join("dev/rtc"), "").unwrap();
    let env_root = format!("NTPD_ROOT={r}");
    let script = root.join("etc/init.d/ntpdate");
    let out = b.net.run(
        &b.tmp,
        &[
            "env",
            &env_root,
            "/bin/sh",
            script.to_str().unwrap(),
            "start",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("step time server 127.0.0.1"), "{out:?}");
    assert!(out.stdout.contains("[  OK  ]"), "{out:?}");
    let line = fs::read_to_string(root.join("dev/rtc")).unwrap();
    let off = common::utc_text_unix(&line) - now_unix();
    assert!(
        (-3..=2).contains(&off),
        "RTC {line:?} is {off} s off true time"
    );
    let status = b.net.run(
        &b.tmp,
        &[
            "env",
            &env_root,
            "/bin/sh",
            script.to_str().unwrap(),
            "status",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(status.code, Some(0), "{status:?}");
}
