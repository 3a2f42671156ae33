//! FILE arguments: paths, or globs for shells that do not expand them (Windows' `cmd`, or a
//! quoted `'specs/**/*.nn'`).

/// Each argument as written, or the files its glob matches in sorted order. A glob that
/// matches nothing, or is not a valid pattern, stays as written, so that reading it fails with
/// the path in the message (as `ls` reports a pattern the shell left alone).
pub fn expand(arguments: &[String]) -> Vec<String> {
    let mut files = Vec::new();
    for argument in arguments {
        let is_glob = argument.contains(['*', '?', '[']);
        let matches: Vec<String> = match glob::glob(argument) {
            Ok(paths) if is_glob => {
                let mut found: Vec<String> =
                    paths.flatten().map(|path| path.display().to_string()).collect();
                found.sort();
                found
            }
            _ => Vec::new(),
        };
        if matches.is_empty() {
            files.push(argument.clone());
        } else {
            files.extend(matches);
        }
    }
    files
}
