//! `analyze layout` as a library call: which Go struct mirrors which BTF type, and the
//! cross-check of every pair.

use std::collections::HashMap;

use mapsleuth_btf::{discover_maps, Btf, LegacyMap};
use mapsleuth_crosscheck::crosscheck::crosscheck;
use mapsleuth_crosscheck::pairing::{
    c_key, c_weak_key, go_key, go_weak_key, is_user_go_type, match_names, plan_by_name, CCandidate,
    MatchRule, PairPlan,
};
use mapsleuth_crosscheck::report::LayoutReport;
use mapsleuth_dwarf::GoBinary;
use mapsleuth_layout::{TypeRef, TypeTable};

use crate::error::{Error, Result};
use crate::gate::{candidates, is_aggregate};
use crate::inputs::{open_go_binary, BtfInput};
use crate::types::no_such_map;

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct LayoutRequest {
    pub go_bin: String,
    pub btf: String,
    pub btf_base: Option<String>,
    /// Explicit pairs, `GO=C` (`main.Event=event`, `bpf.FlowKey=struct flow_key`).
    pub pairs: Vec<String>,
    /// Only this map's key and value types.
    pub map: Option<String>,
}

/// Pairs come from `pairs`, else from `map` (its key and value types and the Go types of
/// the same name), else from every map of the object, else (kernel BTF, raw BTF) from
/// every user Go struct whose name matches a BTF struct.
pub fn check_layout(req: &LayoutRequest) -> Result<LayoutReport> {
    let bin = open_go_binary(&req.go_bin)?;
    let go_structs: Vec<String> = bin
        .types()
        .map_err(|e| Error::dwarf(&req.go_bin, e))?
        .iter()
        .filter(|t| t.kind == "struct")
        .map(|t| t.name.clone())
        .collect();
    let input = BtfInput::read(&req.btf, req.btf_base.as_deref())?;
    let legacy = input.main.legacy_maps.clone();
    input.with(|btf| {
        let (plans, unpaired) = if req.pairs.is_empty() {
            plan_pairs(btf, &go_structs, req.map.as_deref(), &legacy)?
        } else {
            (explicit_pairs(&bin, btf, req)?, Vec::new())
        };
        if plans.is_empty() && unpaired.is_empty() {
            return Err(Error::usage(
                "nothing to check: no Go struct matches a BTF type by name; name the pair with \
                 --pair GO=C",
            ));
        }
        check_pairs(&bin, btf, req, &plans, &unpaired)
    })
}

/// The cross-check of every planned pair, as one report.
fn check_pairs(
    bin: &GoBinary<'_>,
    btf: &Btf,
    req: &LayoutRequest,
    plans: &[PairPlan],
    unpaired: &[CCandidate],
) -> Result<LayoutReport> {
    let go_names: Vec<&str> = plans.iter().map(|p| p.go.as_str()).collect();
    let (go_table, go_ids) = bin
        .table_for(&go_names)
        .map_err(|e| Error::dwarf(&req.go_bin, e))?;
    let c_ids: Vec<u32> = plans.iter().map(|p| p.c.id).collect();
    let c_table = btf.to_table_for(&c_ids)?;
    let mut pairs = Vec::with_capacity(plans.len());
    for (plan, go_id) in plans.iter().zip(go_ids) {
        let go = TypeRef {
            table: &go_table,
            id: go_id,
        };
        let c = TypeRef {
            table: &c_table,
            id: plan.c.id,
        };
        let report = crosscheck(go, c, plan.rule).map_err(|e| {
            Error::layout(format!("checking {} against {}", plan.go, plan.c.name), e)
        })?;
        pairs.push(report);
    }
    Ok(LayoutReport::new(
        req.go_bin.clone(),
        bin.go_version().map(str::to_string),
        bin.target().clone(),
        req.btf.clone(),
        c_table.target.clone(),
        pairs,
        unpaired,
    ))
}

/// `--pair GO=C`, each side looked up by name.
fn explicit_pairs(bin: &GoBinary<'_>, btf: &Btf, req: &LayoutRequest) -> Result<Vec<PairPlan>> {
    let mut plans = Vec::with_capacity(req.pairs.len());
    for p in &req.pairs {
        let (g, c) = p
            .split_once('=')
            .ok_or_else(|| Error::usage(format!("--pair takes GO=C, not `{p}`")))?;
        let entry = bin
            .lookup_name(g.trim())
            .map_err(|e| Error::dwarf(&req.go_bin, e))
            .map_err(|e| Error::usage(format!("--pair {p}: {e}")))?;
        let id = btf
            .find_type(c.trim())
            .map_err(|e| Error::usage(format!("--pair {p}: {}", e.in_file(&req.btf, 0))))?;
        plans.push(PairPlan {
            go: entry.name.clone(),
            c: CCandidate {
                name: c.trim().to_string(),
                id,
                map: None,
            },
            rule: MatchRule::Explicit,
        });
    }
    Ok(plans)
}

/// Pairs by name: the maps' key and value types, else every BTF struct.
fn plan_pairs(
    btf: &Btf,
    go_structs: &[String],
    map: Option<&str>,
    legacy: &[LegacyMap],
) -> Result<(Vec<PairPlan>, Vec<CCandidate>)> {
    let table = btf.to_table()?;
    let candidates = map_candidates(btf, &table, map, legacy)?;
    if !candidates.is_empty() || map.is_some() {
        return Ok(plan_by_name(go_structs, &candidates, map.is_some()));
    }
    Ok((plan_by_name_index(btf, &table, go_structs), Vec::new()))
}

/// Struct and union types worth checking among the maps' keys and values.
fn map_candidates(
    btf: &Btf,
    table: &TypeTable,
    only: Option<&str>,
    legacy: &[LegacyMap],
) -> Result<Vec<CCandidate>> {
    let mut maps = discover_maps(btf, table, legacy)?;
    if let Some(name) = only {
        if !maps.iter().any(|m| m.name == name) {
            return Err(no_such_map(name, "the object", &maps));
        }
        maps.retain(|m| m.name == name);
    }
    Ok(candidates(table, &maps))
}

/// No maps (kernel BTF, a raw blob): user Go structs against BTF structs of the same
/// name. The BTF names are indexed by their strong and weak keys once, so each Go struct
/// is a few lookups, not a pass over ~100,000 kernel names.
fn plan_by_name_index(btf: &Btf, table: &TypeTable, go_structs: &[String]) -> Vec<PairPlan> {
    let index = btf.name_index();
    let mut by_key: HashMap<String, Vec<&str>> = HashMap::new();
    for name in index.keys() {
        by_key.entry(c_key(name)).or_default().push(name);
        if let Some(weak) = c_weak_key(name) {
            by_key.entry(weak).or_default().push(name);
        }
    }
    let mut plans = Vec::new();
    for g in go_structs.iter().filter(|g| is_user_go_type(g)) {
        let mut names: Vec<&str> = [Some(go_key(g)), go_weak_key(g)]
            .into_iter()
            .flatten()
            .filter_map(|k| by_key.get(&k))
            .flatten()
            .copied()
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let Some(rule) = match_names(g, name) else {
                continue;
            };
            if let Some(&id) = index[name].iter().find(|&&id| is_aggregate(table, id)) {
                plans.push(PairPlan {
                    go: g.clone(),
                    c: CCandidate {
                        name: table.type_name(id),
                        id,
                        map: None,
                    },
                    rule,
                });
            }
        }
    }
    plans
}
