//! Writes capture files of a made-up fleet, for scripts/bench-fleet.sh and by hand:
//!
//!   fleet_captures OUTDIR HOSTS ENTRIES     HOSTS captures of map `flows` with ENTRIES
//!                                           made-up entries each (host h0, h1, ...)
//!   fleet_captures OUTDIR HOSTS corpus      HOSTS captures of corpus dumps (flows and
//!                                           pcpu_hash_stats), as the fleet tests make

use mapsleuth_testkit::{corpus_fleet_maps, fleet_capture_bytes, synthetic_flows_capture_bytes};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, hosts, what] = args.as_slice() else {
        eprintln!("usage: fleet_captures OUTDIR HOSTS ENTRIES|corpus");
        std::process::exit(2);
    };
    let hosts: usize = hosts.parse().expect("HOSTS: a number");
    std::fs::create_dir_all(dir).expect("OUTDIR");
    for h in 0..hosts {
        let host = format!("h{h}");
        let secs = 1_700_000_000 + h as u64;
        let bytes = if what == "corpus" {
            let flows = if h % 3 == 2 {
                "flows.after.json"
            } else {
                "flows.json"
            };
            let maps = corpus_fleet_maps(flows);
            fleet_capture_bytes(&host, "6.18.0", secs, &maps)
        } else {
            let n: usize = what.parse().expect("ENTRIES: a number or `corpus`");
            synthetic_flows_capture_bytes(&host, secs, n, h as u64)
        };
        let path = format!("{dir}/{host}.mscap");
        std::fs::write(&path, bytes).expect("write");
    }
}
