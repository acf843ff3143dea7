//! Lexical paths inside a root (a container's, an image's, a build context's): what `/`, `.` and
//! `..` mean there without touching the file system. `..` at the top stays at the top, so no path
//! cleaned here leaves its root.

/// The names of `path` once `.`, `..` and repeated slashes are resolved, from the root.
pub fn components(path: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    parts
}

/// `path` cleaned and relative to the root (`/a/./b/../c` is `a/c`; the root itself is empty).
pub fn clean_relative(path: &str) -> String {
    components(path).join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_their_root() {
        assert_eq!(clean_relative("/a/./b/../c/"), "a/c");
        assert_eq!(clean_relative("../../etc/passwd"), "etc/passwd");
        assert_eq!(clean_relative("a//b"), "a/b");
        assert_eq!(clean_relative("/"), "");
        assert_eq!(components("x/../../y"), ["y"]);
    }
}
