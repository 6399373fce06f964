//! `mapsleuth check`: every map of every object, the Go mirror of each key and value
//! type, and the cross-check of all of them, with a project's own pairs and accepted
//! findings (`mapsleuth.toml`). [`Gate`] is what `check` and the lockfile share: the
//! maps, the pairs and both sides' type tables, read once.

use std::collections::HashMap;

use mapsleuth_btf::{discover_maps, Btf, MapDef};
use mapsleuth_crosscheck::crosscheck::{crosscheck, PairReport};
use mapsleuth_crosscheck::pairing::{plan_by_name, CCandidate, MatchRule, PairPlan};
use mapsleuth_crosscheck::report::{LayoutReport, LayoutSummary};
use mapsleuth_dwarf::GoBinary;
use mapsleuth_layout::{Finding, Target, TypeId, TypeKind, TypeRef, TypeTable};
use serde::Serialize;

use crate::config::{Allow, GateConfig};
use crate::error::{Error, Result};
use crate::inputs::{open_go_binary, BtfInput};

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct CheckRequest {
    pub go_bin: String,
    /// BPF objects (or raw BTF), each with its own maps.
    pub btf: Vec<String>,
    pub btf_base: Option<String>,
    /// `GO=C` pairs from the command line; they come before the config file's.
    pub pairs: Vec<String>,
    pub config: GateConfig,
}

/// One map's key and value types and their Go mirrors.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct MapTypes {
    pub name: String,
    pub map_type: String,
    /// Pinned maps outlive the program: their key and value must never change size.
    pub pinned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<RoleTypes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<RoleTypes>,
}

/// The C type of a key or value and the Go types paired with it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RoleTypes {
    pub c_type: String,
    /// The type as the map declares it (a typedef stays one) and, `c_id`, resolved.
    #[serde(skip)]
    pub c_declared: TypeId,
    #[serde(skip)]
    pub c_id: TypeId,
    /// A struct or union (checked field by field); scalars are checked by size only.
    pub aggregate: bool,
    pub go_types: Vec<String>,
}

/// One object's part of the check.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ObjectReport {
    pub maps: Vec<MapTypes>,
    pub layout: LayoutReport,
}

/// A finding the config file accepts, with its reason.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AllowedFinding {
    pub finding: Finding,
    pub reason: String,
}

/// One JSON document: `schemas/check.schema.json`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    pub tool_version: String,
    pub go_binary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go_version: Option<String>,
    pub go_target: Target,
    pub objects: Vec<ObjectReport>,
    /// Findings the config file accepts; they do not count towards the exit status.
    pub allowed: Vec<AllowedFinding>,
    pub summary: LayoutSummary,
}

impl CheckReport {
    /// Every finding that counts (allowed ones excluded).
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.objects.iter().flat_map(|o| o.layout.all_findings())
    }
}

/// One object, read: its maps, the pairs to check and its whole type table.
pub struct GateObject {
    pub path: String,
    pub table: TypeTable,
    pub maps: Vec<MapTypes>,
    pub plans: Vec<PairPlan>,
    pub unpaired: Vec<CCandidate>,
}

impl GateObject {
    /// The maps a finding is about: the one it names, else those whose key or value
    /// is its type.
    fn maps_of<'a>(&'a self, f: &'a Finding) -> Vec<&'a str> {
        if let Some(m) = &f.location.map {
            return vec![m.as_str()];
        }
        let Some(t) = &f.location.type_name else {
            return Vec::new();
        };
        let is = |r: &Option<RoleTypes>| {
            r.as_ref()
                .is_some_and(|r| &r.c_type == t || &self.table.type_name(r.c_id) == t)
        };
        self.maps
            .iter()
            .filter(|m| is(&m.key) || is(&m.value))
            .map(|m| m.name.as_str())
            .collect()
    }
}

/// Everything `check` and the lockfile read, once.
pub struct Gate {
    pub go_bin: String,
    pub bin: GoBinary<'static>,
    pub go_table: TypeTable,
    go_ids: HashMap<String, TypeId>,
    pub objects: Vec<GateObject>,
}

impl Gate {
    /// Reads the binary and every object, pairs every map type with its Go mirrors.
    pub fn read(req: &CheckRequest) -> Result<Gate> {
        if req.btf.is_empty() {
            return Err(Error::usage("give at least one --btf OBJECT"));
        }
        let bin = open_go_binary(&req.go_bin)?;
        let go_structs: Vec<String> = bin
            .types()
            .map_err(|e| Error::dwarf(&req.go_bin, e))?
            .iter()
            .filter(|t| t.kind == "struct")
            .map(|t| t.name.clone())
            .collect();
        let overrides = overrides(&bin, req)?;
        let mut used = vec![false; overrides.len()];
        let mut objects = Vec::with_capacity(req.btf.len());
        for path in &req.btf {
            let input = BtfInput::read(path, req.btf_base.as_deref())?;
            let legacy = input.main.legacy_maps.clone();
            let obj = input.with(|btf| {
                let table = btf.to_table()?;
                let defs = discover_maps(btf, &table, &legacy)?;
                let ids = resolve_overrides(btf, &table, &overrides, &mut used);
                Ok::<_, Error>(plan_object(path, table, &defs, &go_structs, &ids))
            })?;
            objects.push(obj);
        }
        if let Some(i) = used.iter().position(|u| !u) {
            let (go, c) = &overrides[i];
            return Err(Error::usage(format!(
                "pair {go}={c}: no type `{c}` in {}",
                req.btf.join(", ")
            )));
        }
        let mut names: Vec<&str> = objects
            .iter()
            .flat_map(|o| o.plans.iter().map(|p| p.go.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        let (go_table, ids) = bin
            .table_for(&names)
            .map_err(|e| Error::dwarf(&req.go_bin, e))?;
        let go_ids = names.iter().map(|n| n.to_string()).zip(ids).collect();
        Ok(Gate {
            go_bin: req.go_bin.clone(),
            bin,
            go_table,
            go_ids,
            objects,
        })
    }

    /// The Go type `name` in [`Gate::go_table`] (every paired Go type is there).
    pub fn go_id(&self, name: &str) -> Option<TypeId> {
        self.go_ids.get(name).copied()
    }

    /// The cross-check of every pair, object by object.
    pub fn check(&self, config: &GateConfig) -> Result<CheckReport> {
        let mut objects = Vec::with_capacity(self.objects.len());
        let mut allowed = Vec::new();
        for o in &self.objects {
            let pairs = self.check_pairs(o)?;
            let mut layout = LayoutReport::new(
                self.go_bin.clone(),
                self.bin.go_version().map(str::to_string),
                self.bin.target().clone(),
                o.path.clone(),
                o.table.target.clone(),
                pairs,
                &o.unpaired,
            );
            allowed.extend(apply_allows(&mut layout, o, config));
            objects.push(ObjectReport {
                maps: o.maps.clone(),
                layout,
            });
        }
        let pairs = objects.iter().map(|o| o.layout.pairs.len()).sum();
        let summary =
            LayoutSummary::of(pairs, objects.iter().flat_map(|o| o.layout.all_findings()));
        Ok(CheckReport {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            go_binary: self.go_bin.clone(),
            go_version: self.bin.go_version().map(str::to_string),
            go_target: self.bin.target().clone(),
            objects,
            allowed,
            summary,
        })
    }

    fn check_pairs(&self, o: &GateObject) -> Result<Vec<PairReport>> {
        let mut out = Vec::with_capacity(o.plans.len());
        for plan in &o.plans {
            let Some(go_id) = self.go_id(&plan.go) else {
                continue;
            };
            let go = TypeRef {
                table: &self.go_table,
                id: go_id,
            };
            let c = TypeRef {
                table: &o.table,
                id: plan.c.id,
            };
            let report = crosscheck(go, c, plan.rule).map_err(|e| {
                Error::layout(format!("checking {} against {}", plan.go, plan.c.name), e)
            })?;
            out.push(report);
        }
        Ok(out)
    }
}

/// Takes the findings `config` allows out of `layout`, with their reasons.
fn apply_allows(
    layout: &mut LayoutReport,
    o: &GateObject,
    config: &GateConfig,
) -> Vec<AllowedFinding> {
    let mut taken: Vec<(Finding, &Allow)> = Vec::new();
    layout.retain_findings(|f| match config.allowed(f, &o.maps_of(f)) {
        Some(a) => {
            taken.push((f.clone(), a));
            false
        }
        None => true,
    });
    taken
        .into_iter()
        .map(|(finding, a)| AllowedFinding {
            finding,
            reason: a.reason.clone(),
        })
        .collect()
}

/// Reads the inputs and checks them: `mapsleuth check`.
pub fn check(req: &CheckRequest) -> Result<CheckReport> {
    let gate = Gate::read(req)?;
    if gate
        .objects
        .iter()
        .all(|o| o.plans.is_empty() && o.unpaired.is_empty())
    {
        return Err(Error::usage(format!(
            "nothing to check: {} define no map with a struct key or value, and no pair was \
             named",
            req.btf.join(", ")
        )));
    }
    gate.check(&req.config)
}

/// The pairs named by hand (command line first, then the config file), with the Go
/// name as the binary spells it.
fn overrides(bin: &GoBinary<'_>, req: &CheckRequest) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let cli = req.pairs.iter().map(|p| {
        p.split_once('=')
            .map(|(g, c)| (g.trim().to_string(), c.trim().to_string()))
            .ok_or_else(|| Error::usage(format!("--pair takes GO=C, not `{p}`")))
    });
    let file = req
        .config
        .pairs
        .iter()
        .map(|p| Ok((p.go.trim().to_string(), p.c.trim().to_string())));
    for pair in cli.chain(file) {
        let (go, c) = pair?;
        let entry = bin.lookup_name(&go).map_err(|e| {
            Error::usage(format!("pair {go}={c}: {}", Error::dwarf(&req.go_bin, e)))
        })?;
        out.push((entry.name.clone(), c));
    }
    Ok(out)
}

/// A hand-made pair resolved in one object: (Go name, C name, C type id).
type Override = (String, String, TypeId);

/// The overrides whose C type this object has; marks them used.
fn resolve_overrides(
    btf: &Btf,
    table: &TypeTable,
    overrides: &[(String, String)],
    used: &mut [bool],
) -> Vec<Override> {
    let mut out = Vec::new();
    for (i, (go, c)) in overrides.iter().enumerate() {
        let Ok(id) = btf.find_type(c) else {
            continue;
        };
        used[i] = true;
        let id = table.resolve(id).unwrap_or(id);
        out.push((go.clone(), c.clone(), id));
    }
    out
}

/// Pairs each map type: the hand-made pairs of its type, else the Go structs of its
/// name; map types without either are unpaired (L022).
fn plan_object(
    path: &str,
    table: TypeTable,
    defs: &[MapDef],
    go_structs: &[String],
    overrides: &[Override],
) -> GateObject {
    let candidates = candidates(&table, defs);
    let mut plans = Vec::new();
    let mut unpaired = Vec::new();
    for c in &candidates {
        if overrides.iter().any(|o| o.2 == c.id) {
            continue;
        }
        let (p, u) = plan_by_name(go_structs, std::slice::from_ref(c), false);
        plans.extend(p);
        unpaired.extend(u);
    }
    for (go, c, id) in overrides {
        plans.push(PairPlan {
            go: go.clone(),
            c: CCandidate {
                name: c.clone(),
                id: *id,
                map: candidates
                    .iter()
                    .find(|k| k.id == *id)
                    .and_then(|k| k.map.clone()),
            },
            rule: MatchRule::Explicit,
        });
    }
    let maps = defs.iter().map(|d| map_types(&table, d, &plans)).collect();
    GateObject {
        path: path.to_string(),
        table,
        maps,
        plans,
        unpaired,
    }
}

/// Struct and union key and value types, once each, with the first map using them.
pub(crate) fn candidates(table: &TypeTable, defs: &[MapDef]) -> Vec<CCandidate> {
    let mut out: Vec<CCandidate> = Vec::new();
    for m in defs {
        for (role, id) in [("key", m.key_type_id), ("value", m.value_type_id)] {
            let Some(resolved) = id.and_then(|id| table.resolve(id).ok()) else {
                continue;
            };
            if !is_aggregate(table, resolved) || out.iter().any(|c| c.id == resolved) {
                continue;
            }
            out.push(CCandidate {
                name: table.type_name(resolved),
                id: resolved,
                map: Some((m.name.clone(), role)),
            });
        }
    }
    out
}

/// Struct or union: the types a Go struct can mirror.
pub(crate) fn is_aggregate(table: &TypeTable, id: TypeId) -> bool {
    matches!(
        table.get(id).map(|t| &t.kind),
        Ok(TypeKind::Struct(_) | TypeKind::Union(_))
    )
}

fn map_types(table: &TypeTable, d: &MapDef, plans: &[PairPlan]) -> MapTypes {
    let role = |id: Option<u32>| {
        let resolved = id.and_then(|id| table.resolve(id).ok())?;
        let mut go_types: Vec<String> = plans
            .iter()
            .filter(|p| p.c.id == resolved)
            .map(|p| p.go.clone())
            .collect();
        go_types.sort();
        go_types.dedup();
        Some(RoleTypes {
            c_type: table.type_name(id.unwrap_or(resolved)),
            c_declared: id.unwrap_or(resolved),
            c_id: resolved,
            aggregate: is_aggregate(table, resolved),
            go_types,
        })
    };
    MapTypes {
        name: d.name.clone(),
        map_type: d.map_type_name.clone(),
        pinned: d.pinning.is_some_and(|p| p != 0),
        key_size: d.key_size,
        value_size: d.value_size,
        key: role(d.key_type_id),
        value: role(d.value_type_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapsleuth_layout::ByteOrder;

    fn maps_object(go_structs: &[&str]) -> GateObject {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/bpf/maps.bpf.o");
        let input = BtfInput::read(path, None).unwrap();
        let legacy = input.main.legacy_maps.clone();
        let go: Vec<String> = go_structs.iter().map(|s| s.to_string()).collect();
        input
            .with(|btf| {
                let table = btf.to_table()?;
                let defs = discover_maps(btf, &table, &legacy)?;
                Ok::<_, Error>(plan_object(path, table, &defs, &go, &[]))
            })
            .unwrap()
    }

    #[test]
    fn map_types_without_a_mirror_are_l022_unless_allowed() {
        let o = maps_object(&["example.com/app/good.Event"]);
        let unpaired: Vec<&str> = o.unpaired.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            unpaired,
            [
                "struct flow_key",
                "struct flow_stats",
                "struct lpm_v4_key",
                "struct addr",
                "struct conn_flags"
            ]
        );
        let events = o.maps.iter().find(|m| m.name == "events").unwrap();
        let value = events.value.as_ref().unwrap();
        assert_eq!(value.go_types, ["example.com/app/good.Event"]);
        let t = Target::bpf(ByteOrder::Little);
        let report = |o: &GateObject| {
            LayoutReport::new(
                "app".into(),
                None,
                t.clone(),
                o.path.clone(),
                t.clone(),
                vec![],
                &o.unpaired,
            )
        };
        let mut layout = report(&o);
        assert_eq!(layout.summary.warnings, 5);
        let config = GateConfig::parse(
            "[[allow]]\ncode = \"L022\"\nmap = \"lpm_v4\"\nreason = \"keys built by hand\"\n",
            "t.toml",
        )
        .unwrap();
        let allowed = apply_allows(&mut layout, &o, &config);
        assert_eq!(allowed.len(), 1);
        assert_eq!(allowed[0].finding.location.map.as_deref(), Some("lpm_v4"));
        assert_eq!(layout.summary.warnings, 4);
        assert_eq!(layout.findings.len(), 4);
    }

    #[test]
    fn a_map_selector_covers_the_maps_of_the_type() {
        let o = maps_object(&[]);
        let f = Finding::new(mapsleuth_layout::LayoutCode::OffsetDiffers, "x").at(
            mapsleuth_layout::Location {
                type_name: Some("struct flow_stats".into()),
                ..Default::default()
            },
        );
        let mut maps = o.maps_of(&f);
        maps.sort_unstable();
        assert_eq!(maps, ["flows", "pcpu_array_stats", "pcpu_hash_stats"]);
    }
}
