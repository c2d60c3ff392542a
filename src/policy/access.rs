//! Per-project access lists: which users may work in which top-level project folder.
//!
//! Why it exists: one approved directory often holds several projects with different owners.
//! The first path component below the approved root names the project; a project listed in
//! `PROJECT_ACCESS` is open only to its users (and admins). Working at the root itself would
//! reach every project, so when any list exists only admins may do that.

use std::collections::HashMap;
use std::path::Path;

use super::roles::Role;

/// May `user_id` (with `role`) work in `dir` (canonical, inside `root`)?
pub fn may_work_in(
    access: &HashMap<String, Vec<i64>>,
    role: Role,
    user_id: i64,
    root: &Path,
    dir: &Path,
) -> Result<(), String> {
    if access.is_empty() || role.is_admin() {
        return Ok(());
    }
    let Ok(rel) = dir.strip_prefix(root) else {
        return Err("outside the approved directory".into());
    };
    let Some(project) = rel.components().next() else {
        return Err("working at the top of the approved directory is reserved to admins; /cd into a project".into());
    };
    let project = project.as_os_str().to_string_lossy();
    match access.get(project.as_ref()) {
        Some(users) if !users.contains(&user_id) => {
            Err(format!("you have no access to the project {project}"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_apply_to_their_project_only() {
        let root = Path::new("/srv/approved");
        let access = HashMap::from([("secret-proj".to_string(), vec![1])]);
        let ok =
            |role, user, d: &str| may_work_in(&access, role, user, root, &root.join(d)).is_ok();
        assert!(ok(Role::Developer, 1, "secret-proj/src"));
        assert!(!ok(Role::Developer, 2, "secret-proj"));
        assert!(!ok(Role::Viewer, 2, "secret-proj/deep/er"));
        assert!(ok(Role::Admin, 2, "secret-proj"));
        assert!(ok(Role::Developer, 2, "open-proj"));
        assert!(
            may_work_in(&access, Role::Developer, 1, root, root).is_err(),
            "root reaches everything"
        );
        assert!(may_work_in(&access, Role::Admin, 1, root, root).is_ok());
        assert!(may_work_in(&HashMap::new(), Role::Viewer, 9, root, root).is_ok());
    }
}
