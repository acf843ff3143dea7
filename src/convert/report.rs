//! What did not reach Kubernetes as Compose has it: one list per conversion, printed once on stderr,
//! per service and attribute (or per project-level entry), in a stable order. Two grades:
//! `not carried over` (the attribute has no effect in the cluster) and `changed` (it has one, but
//! not quite Compose's; the entry says how).

use std::collections::BTreeSet;
use std::fmt;

/// How much of an attribute survived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    NotCarried,
    Changed,
}

/// One entry: who (`service web`, `volume data`, `profile debug`), which attribute, what happened.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub subject: String,
    pub attribute: String,
    pub grade: Grade,
    pub text: String,
}

/// The whole report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    entries: BTreeSet<Entry>,
}

impl Report {
    /// Service `service`'s `attribute` has no effect in the cluster, because `why`.
    pub fn not_carried(&mut self, service: &str, attribute: &str, why: &str) {
        self.add(
            format!("service {service}"),
            attribute,
            Grade::NotCarried,
            why,
        );
    }

    /// Service `service`'s `attribute` is carried over differently, as `how` says.
    pub fn changed(&mut self, service: &str, attribute: &str, how: &str) {
        self.add(format!("service {service}"), attribute, Grade::Changed, how);
    }

    /// A project-level entry (`volume data`, `network front`, `profile debug`) that is not carried.
    pub fn project(&mut self, subject: &str, why: &str) {
        self.add(subject.to_string(), "", Grade::NotCarried, why);
    }

    /// A project-level attribute of `subject` that is not carried.
    pub fn project_attribute(&mut self, subject: &str, attribute: &str, why: &str) {
        self.add(subject.to_string(), attribute, Grade::NotCarried, why);
    }

    /// A project-level attribute of `subject` carried over differently.
    pub fn project_changed(&mut self, subject: &str, attribute: &str, how: &str) {
        self.add(subject.to_string(), attribute, Grade::Changed, how);
    }

    fn add(&mut self, subject: String, attribute: &str, grade: Grade, text: &str) {
        self.entries.insert(Entry {
            subject,
            attribute: attribute.to_string(),
            grade,
            text: text.to_string(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

impl fmt::Display for Report {
    /// ```text
    /// Not carried over to Kubernetes as Compose has it (3):
    ///   service web
    ///     network_mode: not carried over: ...
    ///     volumes ./site: changed: ...
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "Not carried over to Kubernetes as Compose has it ({}):",
            self.entries.len()
        )?;
        let mut subject = "";
        for entry in &self.entries {
            if entry.subject != subject {
                subject = &entry.subject;
                writeln!(f, "  {subject}")?;
            }
            let grade = match entry.grade {
                Grade::NotCarried => "not carried over",
                Grade::Changed => "changed",
            };
            if entry.attribute.is_empty() {
                writeln!(f, "    {grade}: {}", entry.text)?;
            } else {
                writeln!(f, "    {}: {grade}: {}", entry.attribute, entry.text)?;
            }
        }
        Ok(())
    }
}
