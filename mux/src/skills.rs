//! Skills: named prompts kept as files. `/name …` in the view and `crew --bg --skill name`
//! dispatch `.crew/skills/name.md` from the project (the dispatch directory or its nearest
//! ancestor that has one), else `CREW_HOME/skills/name.md`, with the rest appended.

use std::path::{Path, PathBuf};

use crate::store::Home;

/// The prompt for skill `name` dispatched in `dir`, with `rest` appended.
pub fn prompt(home: &Home, dir: &Path, name: &str, rest: &str) -> Result<String, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name.starts_with('.')
    {
        return Err(format!("'{name}' is not a skill name"));
    }
    let file = find(home, dir, name).ok_or_else(|| {
        format!(
            "no skill named '{name}' (looked in .crew/skills and {})",
            home.root.join("skills").display()
        )
    })?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut prompt = text.trim_end().to_string();
    let rest = rest.trim();
    if !rest.is_empty() {
        prompt.push_str("\n\n");
        prompt.push_str(rest);
    }
    if prompt.trim().is_empty() {
        return Err(format!("the skill file {} is empty", file.display()));
    }
    Ok(prompt)
}

/// Where skills are looked for, in order: the project's, nearest first, then crew's own.
fn skill_dirs<'a>(home: &Home, dir: &'a Path) -> impl Iterator<Item = PathBuf> + 'a {
    dir.ancestors()
        .map(|d| d.join(".crew/skills"))
        .chain([home.root.join("skills")])
}

fn find(home: &Home, dir: &Path, name: &str) -> Option<PathBuf> {
    let file = format!("{name}.md");
    skill_dirs(home, dir)
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
}

/// The skills that can be dispatched in `dir`, for completion: project ones first.
pub fn names(home: &Home, dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for d in skill_dirs(home, dir) {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut found: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".md")
                    .map(str::to_string)
            })
            .filter(|n| !names.contains(n))
            .collect();
        found.sort();
        names.extend(found);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_skills_come_first_and_the_rest_is_appended() {
        let root = std::env::temp_dir().join(format!("crew-skills-{}", std::process::id()));
        let home = Home {
            root: root.join("home"),
        };
        let project = root.join("project");
        let sub = project.join("src");
        std::fs::create_dir_all(project.join(".crew/skills")).unwrap();
        std::fs::create_dir_all(home.root.join("skills")).unwrap();
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(project.join(".crew/skills/review.md"), "Review it.\n").unwrap();
        std::fs::write(home.root.join("skills/review.md"), "Global.\n").unwrap();
        std::fs::write(home.root.join("skills/fix.md"), "Fix it.\n").unwrap();
        assert_eq!(
            prompt(&home, &sub, "review", " carefully ").unwrap(),
            "Review it.\n\ncarefully"
        );
        assert_eq!(prompt(&home, &root, "review", "").unwrap(), "Global.");
        assert!(prompt(&home, &sub, "nope", "")
            .unwrap_err()
            .starts_with("no skill named 'nope'"));
        assert!(prompt(&home, &sub, "../x", "").is_err());
        assert_eq!(names(&home, &sub), ["review", "fix"]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
