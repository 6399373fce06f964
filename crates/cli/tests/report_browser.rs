//! The report in a real browser: headless Chromium renders the page of a corpus pair and
//! dump; the screenshot is checked non-blank, of the window's size and showing the byte
//! map's colours, and the DOM Chromium built holds the map, a finding code and a field
//! name taken from the tool's JSON reports.
//!
//! The browser: $MAPSLEUTH_CHROMIUM, else `chromium`, `chromium-browser` or
//! `google-chrome` on PATH. Without one the test prints SKIP, unless
//! MAPSLEUTH_REQUIRE_BROWSER=1 (scripts/test.sh sets it when it could install Chromium).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod html;
mod support;

use support::{layout_args, run, AMD64};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2000;

fn browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MAPSLEUTH_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs the browser with `args` and a fresh profile, killed if it hangs (a watchdog, not
/// a timing check). Returns what it printed; standard output goes to a file, as a pipe
/// nobody reads while waiting would fill up with `--dump-dom`'s page.
fn chromium(bin: &Path, dir: &Path, name: &str, args: &[String]) -> String {
    let profile = dir.join(format!("profile-{name}"));
    std::fs::create_dir_all(&profile).unwrap();
    let stdout = dir.join(format!("{name}.stdout"));
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .env("HOME", &profile)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{name}.stderr"))).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = std::fs::read_to_string(dir.join(format!("{name}.stderr"))).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "{} {args:?} ({status:?}, killed after 120 s if None): {err}",
        bin.display()
    );
    std::fs::read_to_string(stdout).unwrap()
}

fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let r = run(&all);
    assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// The RGB fills of the cells of the page's first byte map (at the top of the page, so
/// in the screenshot), as the page writes them (`#rrggbb`).
fn cell_colours(page: &str) -> HashSet<[u8; 3]> {
    let all = html::parse(page).unwrap();
    let first = all
        .iter()
        .find(|e| e.name == "svg" && e.attr("class") == Some("bytemap"))
        .unwrap();
    all.iter()
        .filter(|e| first.contains(e) && e.name == "rect" && e.attr("data-b").is_some())
        .filter_map(|e| e.attr("fill")?.strip_prefix('#').map(str::to_string))
        .filter_map(|hex| {
            let v = u32::from_str_radix(&hex, 16).ok()?;
            Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
        })
        .collect()
}

/// The screenshot's size and its pixels' colours, with how often each occurs.
fn decode(png_path: &Path) -> (u32, u32, std::collections::HashMap<[u8; 3], usize>) {
    let file = std::fs::File::open(png_path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    assert!(step >= 3, "{:?}", info.color_type);
    let mut counts = std::collections::HashMap::new();
    for px in buf[..info.buffer_size()].chunks_exact(step) {
        *counts.entry([px[0], px[1], px[2]]).or_insert(0usize) += 1;
    }
    (info.width, info.height, counts)
}

#[test]
fn the_report_renders_in_chromium() {
    let Some(bin) = browser() else {
        assert!(
            std::env::var("MAPSLEUTH_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "MAPSLEUTH_REQUIRE_BROWSER=1 but no browser: set MAPSLEUTH_CHROMIUM or install chromium"
        );
        println!("SKIP: no browser (set MAPSLEUTH_CHROMIUM)");
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page_path = dir.join("events.html");
    let (types, dump) = (
        ["--btf", "bpf/maps.bpf.o", "--map", "events"],
        "dumps/events.json",
    );
    let mut args = vec![
        "report",
        "-o",
        page_path.to_str().unwrap(),
        "--go-bin",
        AMD64,
    ];
    args.extend_from_slice(&types);
    args.push(dump);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(&page_path).unwrap();
    let url = format!("file://{}", page_path.display());

    let shot = dir.join("shot.png");
    chromium(
        &bin,
        &dir,
        "screenshot",
        &[
            format!("--screenshot={}", shot.display()),
            format!("--window-size={WIDTH},{HEIGHT}"),
            url.clone(),
        ],
    );
    let (w, h, counts) = decode(&shot);
    assert_eq!((w, h), (WIDTH, HEIGHT));
    // Not blank: many colours, and a good share of the page is not the background.
    let background = counts.values().max().copied().unwrap_or(0);
    assert!(counts.len() > 50, "{} colours", counts.len());
    assert!(
        background < (w * h) as usize * 97 / 100,
        "almost all one colour"
    );
    // The first byte map is drawn: each field colour it uses covers whole cells
    // (16x16 pixels at least) of the screenshot.
    let fills = cell_colours(&page);
    assert!(fills.len() >= 4, "{fills:?}");
    for c in &fills {
        let n = counts.get(c).copied().unwrap_or(0);
        assert!(n >= 14 * 14, "colour {c:?} of the byte map: {n} pixels");
    }

    let dom = chromium(&bin, &dir, "dom", &["--dump-dom".to_string(), url]);
    // What the DOM must hold, taken from the tool's own JSON reports.
    let mut dump_args = vec!["analyze", "dump"];
    dump_args.extend_from_slice(&types);
    dump_args.push(dump);
    let d = &json(&dump_args)["dumps"][0];
    let layout = json(&layout_args("events"));
    let pair = &layout["pairs"][0];
    let map = d["map"]["name"].as_str().unwrap();
    let code = d["findings"][0]["code"].as_str().unwrap();
    let pair_code = pair["findings"][0]["code"].as_str().unwrap_or(code);
    let field = pair["c_layout"]["members"][0]["name"].as_str().unwrap();
    for want in [
        format!("map <code>{map}</code>"),
        format!("<code>{code}</code>"),
        format!("<code>{pair_code}</code>"),
        format!(" {field} "),
        "<svg class=\"bytemap\"".to_string(),
    ] {
        assert!(dom.contains(&want), "the DOM lacks `{want}`");
    }
}
