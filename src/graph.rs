//! The service dependency graph: which services start before which, which can start together, the
//! reverse order for stopping, and the cycles that make a project impossible to start.
//!
//! Edges come from `depends_on`, `links`, `network_mode: service:X` and `volumes_from: service:X`
//! (the implicit dependencies docker compose also honours). Orders are deterministic: ties are
//! broken by service name, so two runs on the same project always agree.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::project::model::Project;

/// Services and their dependencies. An edge goes from a dependency to the service that needs it.
#[derive(Debug, Clone)]
pub struct ServiceGraph {
    graph: DiGraph<String, ()>,
    index: BTreeMap<String, NodeIndex>,
}

impl ServiceGraph {
    /// Builds the graph of a project's services. Dependencies on services the project does not define
    /// are left out (validation reports them).
    pub fn new(project: &Project) -> ServiceGraph {
        let mut graph = DiGraph::new();
        let mut index = BTreeMap::new();
        for name in project.services.keys() {
            index.insert(name.clone(), graph.add_node(name.clone()));
        }
        for (name, service) in &project.services {
            for dependency in implicit_and_explicit_dependencies(service) {
                if let (Some(&from), Some(&to)) = (index.get(&dependency), index.get(name)) {
                    graph.update_edge(from, to, ());
                }
            }
        }
        ServiceGraph { graph, index }
    }

    /// A dependency cycle, as the list of services around it (the first repeated at the end), if any.
    pub fn cycle(&self) -> Option<Vec<String>> {
        let mut components = tarjan_scc(&self.graph);
        components.sort_by_key(|component| component.iter().map(|&n| self.graph[n].clone()).min());
        for component in components {
            let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
            let start = *component.iter().min_by_key(|&&n| &self.graph[n])?;
            let is_cycle = component.len() > 1 || self.graph.contains_edge(start, start);
            if !is_cycle {
                continue;
            }
            // Walk from `start` inside the component until we come back to it.
            let mut path = vec![start];
            let mut seen = BTreeSet::from([start]);
            let mut current = start;
            loop {
                let mut next: Vec<NodeIndex> = self
                    .graph
                    .neighbors_directed(current, Direction::Incoming)
                    .filter(|n| members.contains(n))
                    .collect();
                next.sort_by_key(|&n| &self.graph[n]);
                if next.contains(&start) {
                    path.push(start);
                    break;
                }
                let Some(&step) = next.iter().find(|n| !seen.contains(n)) else {
                    break;
                };
                seen.insert(step);
                path.push(step);
                current = step;
            }
            return Some(path.into_iter().map(|n| self.graph[n].clone()).collect());
        }
        None
    }

    /// Groups of services that can start together, in start order: every service's dependencies are
    /// in earlier groups. Services on a cycle are left out.
    pub fn levels(&self) -> Vec<Vec<String>> {
        let mut remaining: BTreeMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| {
                (
                    n,
                    self.graph
                        .neighbors_directed(n, Direction::Incoming)
                        .count(),
                )
            })
            .collect();
        let mut levels = Vec::new();
        loop {
            let mut ready: Vec<NodeIndex> = remaining
                .iter()
                .filter(|(_, count)| **count == 0)
                .map(|(n, _)| *n)
                .collect();
            if ready.is_empty() {
                break;
            }
            ready.sort_by_key(|&n| &self.graph[n]);
            for &node in &ready {
                remaining.remove(&node);
                for edge in self.graph.edges_directed(node, Direction::Outgoing) {
                    if let Some(count) = remaining.get_mut(&edge.target()) {
                        *count -= 1;
                    }
                }
            }
            levels.push(ready.into_iter().map(|n| self.graph[n].clone()).collect());
        }
        levels
    }

    /// The order to start services in.
    pub fn start_order(&self) -> Vec<String> {
        self.levels().into_iter().flatten().collect()
    }

    /// The order to stop services in: dependents before their dependencies.
    pub fn stop_order(&self) -> Vec<String> {
        let mut order: Vec<String> = Vec::new();
        for level in self.levels().into_iter().rev() {
            order.extend(level);
        }
        order
    }

    /// The services `service` needs directly.
    pub fn dependencies(&self, service: &str) -> Vec<String> {
        self.neighbors(service, Direction::Incoming)
    }

    /// The services that need `service` directly.
    pub fn dependents(&self, service: &str) -> Vec<String> {
        self.neighbors(service, Direction::Outgoing)
    }

    /// `services` and everything they need, transitively (for `up SERVICE`).
    pub fn with_dependencies(&self, services: &[String]) -> BTreeSet<String> {
        self.closure(services, Direction::Incoming)
    }

    /// `services` and everything that needs them, transitively (for `stop SERVICE`).
    pub fn with_dependents(&self, services: &[String]) -> BTreeSet<String> {
        self.closure(services, Direction::Outgoing)
    }

    fn neighbors(&self, service: &str, direction: Direction) -> Vec<String> {
        let Some(&node) = self.index.get(service) else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .graph
            .neighbors_directed(node, direction)
            .map(|n| self.graph[n].clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn closure(&self, services: &[String], direction: Direction) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = services
            .iter()
            .filter_map(|s| self.index.get(s).copied())
            .collect();
        while let Some(node) = stack.pop() {
            if seen.insert(self.graph[node].clone()) {
                stack.extend(self.graph.neighbors_directed(node, direction));
            }
        }
        seen
    }
}

/// The services a service needs: `depends_on`, `links`, `network_mode: service:X`,
/// `volumes_from: service:X` (or a bare service name).
pub fn implicit_and_explicit_dependencies(
    service: &crate::project::model::Service,
) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = service.depends_on.keys().cloned().collect();
    for link in &service.links {
        names.insert(link.split(':').next().unwrap_or(link).to_string());
    }
    if let Some(mode) = &service.network_mode
        && let Some(name) = mode.strip_prefix("service:")
    {
        names.insert(name.to_string());
    }
    for from in &service.volumes_from {
        if from.starts_with("container:") {
            continue;
        }
        let name = from.strip_prefix("service:").unwrap_or(from);
        names.insert(name.split(':').next().unwrap_or(name).to_string());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::model::{DependsOn, Service};

    fn project(edges: &[(&str, &[&str])]) -> Project {
        let mut project = Project::default();
        for (name, dependencies) in edges {
            let mut service = Service::default();
            for dependency in *dependencies {
                service
                    .depends_on
                    .insert(dependency.to_string(), DependsOn::default());
            }
            project.services.insert(name.to_string(), service);
        }
        project
    }

    #[test]
    fn orders_levels_and_reverse() {
        let graph = ServiceGraph::new(&project(&[
            ("web", &["api"]),
            ("api", &["db", "cache"]),
            ("db", &[]),
            ("cache", &[]),
            ("worker", &["db"]),
        ]));
        assert_eq!(
            graph.levels(),
            [vec!["cache", "db"], vec!["api", "worker"], vec!["web"]]
        );
        assert_eq!(graph.start_order(), ["cache", "db", "api", "worker", "web"]);
        assert_eq!(graph.stop_order(), ["web", "api", "worker", "cache", "db"]);
        assert_eq!(graph.dependencies("api"), ["cache", "db"]);
        assert_eq!(graph.dependents("db"), ["api", "worker"]);
        assert_eq!(
            graph
                .with_dependencies(&["web".into()])
                .into_iter()
                .collect::<Vec<_>>(),
            ["api", "cache", "db", "web"]
        );
        assert_eq!(
            graph
                .with_dependents(&["db".into()])
                .into_iter()
                .collect::<Vec<_>>(),
            ["api", "db", "web", "worker"]
        );
        assert_eq!(graph.cycle(), None);
    }

    #[test]
    fn names_cycles() {
        let graph = ServiceGraph::new(&project(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("d", &[]),
        ]));
        assert_eq!(graph.cycle().unwrap(), ["a", "b", "c", "a"]);
        let graph = ServiceGraph::new(&project(&[("solo", &["solo"])]));
        assert_eq!(graph.cycle().unwrap(), ["solo", "solo"]);
    }
}
