//! The questionnaires and templates (messages, pages): built into the binary, so it runs from
//! any folder with nothing beside it, and each file replaceable from an override folder
//! (`templates.dir`). A file in the folder replaces the built-in file of the same path; a new
//! file (another questionnaire, another locale) is added to them. `surveyd templates export`
//! writes the built-in set out, to start customising from.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The files of the source tree's `templates/` folder, compiled in.
#[derive(rust_embed::Embed)]
#[folder = "templates/"]
struct BuiltIn;

/// The built-in files, and the override folder when one is configured.
#[derive(Debug, Clone, Default)]
pub struct TemplateFiles {
    overrides: Option<PathBuf>,
}

/// One file's text and where it came from.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub text: String,
    /// For messages: `built-in templates/email/en/subject.hbs` or the override's path.
    pub place: String,
}

impl TemplateFiles {
    /// The built-in files only.
    pub fn built_in() -> TemplateFiles {
        TemplateFiles::default()
    }

    /// The built-in files under the files of `overrides` (it must be a folder).
    pub fn with_overrides(overrides: Option<&Path>) -> Result<TemplateFiles, String> {
        if let Some(dir) = overrides
            && !dir.is_dir()
        {
            let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
            return Err(format!(
                "templates.dir: {} is not a folder (leave templates.dir unset to use the \
                 built-in templates; `surveyd templates export DIR` writes them out)",
                shown.display()
            ));
        }
        Ok(TemplateFiles {
            overrides: overrides.map(Path::to_owned),
        })
    }

    /// The override folder, if any.
    pub fn overrides(&self) -> Option<&Path> {
        self.overrides.as_deref()
    }

    /// The paths of the files under `folder` (`email`, `questionnaires`), built-in and
    /// overriding alike, relative to the top (`email/en/subject.hbs`), sorted.
    pub fn list(&self, folder: &str) -> Vec<String> {
        let prefix = format!("{}/", folder.trim_end_matches('/'));
        let mut paths: BTreeSet<String> = BuiltIn::iter()
            .filter(|p| p.starts_with(&prefix))
            .map(Cow::into_owned)
            .collect();
        if let Some(dir) = &self.overrides {
            let mut found = Vec::new();
            walk(dir, &dir.join(folder), &mut found);
            paths.extend(found);
        }
        paths.into_iter().collect()
    }

    /// The file at `path` (relative, `/`-separated): the override's when it has one. `Ok(None)`
    /// when neither has it.
    pub fn read(&self, path: &str) -> Result<Option<TemplateFile>, String> {
        if let Some(dir) = &self.overrides {
            let file = dir.join(path);
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    return Ok(Some(TemplateFile {
                        text,
                        place: file.display().to_string(),
                    }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", file.display())),
            }
        }
        match BuiltIn::get(path) {
            Some(file) => {
                let text = String::from_utf8(file.data.into_owned())
                    .map_err(|_| format!("{}: not UTF-8", built_in_place(path)))?;
                Ok(Some(TemplateFile {
                    text,
                    place: built_in_place(path),
                }))
            }
            None => Ok(None),
        }
    }

    /// Where the file at `path` is read from (or would be), for messages.
    pub fn place(&self, path: &str) -> String {
        match &self.overrides {
            Some(dir) if dir.join(path).is_file() => dir.join(path).display().to_string(),
            Some(dir) if BuiltIn::get(path).is_none() => dir.join(path).display().to_string(),
            _ => built_in_place(path),
        }
    }

    /// Writes every built-in file under `dir` (creating it), refusing to overwrite a file that
    /// is there. Returns the paths written.
    pub fn export(dir: &Path) -> Result<Vec<PathBuf>, String> {
        let paths: Vec<Cow<'static, str>> = BuiltIn::iter().collect();
        let existing: Vec<PathBuf> = paths
            .iter()
            .map(|p| dir.join(p.as_ref()))
            .filter(|p| p.exists())
            .collect();
        if let Some(first) = existing.first() {
            return Err(format!(
                "{} already exists ({} of the {} files are there); export into a new folder",
                first.display(),
                existing.len(),
                paths.len()
            ));
        }
        let mut written = Vec::new();
        for path in paths {
            let target = dir.join(path.as_ref());
            let file = BuiltIn::get(&path).expect("listed files exist");
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::write(&target, &file.data)
                .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
            written.push(target);
        }
        Ok(written)
    }
}

fn built_in_place(path: &str) -> String {
    format!("built-in templates/{path}")
}

/// The files below `folder`, as paths relative to `top` with `/` between parts.
fn walk(top: &Path, folder: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(top, &path, found);
        } else if let Ok(relative) = path.strip_prefix(top) {
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            found.push(parts.join("/"));
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettings {
    /// A folder whose files replace the built-in questionnaires and templates of the same
    /// path (and add to them); unset, the built-in ones serve.
    pub dir: Option<PathBuf>,
    /// `templates check` warns about an SMS template whose sample text needs more segments.
    pub sms_max_segments: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_one_file_and_adds_others() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("email/en")).unwrap();
        std::fs::write(
            dir.path().join("email/en/subject.hbs"),
            "Hi {{customer_name}}",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("questionnaires")).unwrap();
        std::fs::write(dir.path().join("questionnaires/short.toml"), "title = {}").unwrap();
        let files = TemplateFiles::with_overrides(Some(dir.path())).unwrap();

        let subject = files.read("email/en/subject.hbs").unwrap().unwrap();
        assert_eq!(subject.text, "Hi {{customer_name}}");
        assert!(subject.place.starts_with(&dir.path().display().to_string()));
        let body = files.read("email/en/body.txt.hbs").unwrap().unwrap();
        assert_eq!(body.place, "built-in templates/email/en/body.txt.hbs");
        assert_eq!(
            files.list("questionnaires"),
            [
                "questionnaires/post-contact.toml",
                "questionnaires/short.toml"
            ]
        );
        assert!(files.read("email/fr/subject.hbs").unwrap().is_none());
    }

    #[test]
    fn a_missing_override_folder_is_refused_and_export_does_not_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let err = TemplateFiles::with_overrides(Some(&dir.path().join("nope"))).unwrap_err();
        assert!(err.contains("is not a folder"), "{err}");
        let written = TemplateFiles::export(&dir.path().join("mine")).unwrap();
        assert!(written.len() > 40, "{}", written.len());
        assert!(
            dir.path()
                .join("mine/questionnaires/post-contact.toml")
                .is_file()
        );
        let again = TemplateFiles::export(&dir.path().join("mine")).unwrap_err();
        assert!(again.contains("already exists"), "{again}");
    }
}
