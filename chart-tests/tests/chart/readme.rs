//! The chart README's values table is generated from values.yaml (chart_tests::values_doc); this
//! fails when it is out of date. `just chart-readme` (UPDATE_CHART_README=1) rewrites it.

use chart_tests::values_doc;
use chart_tests::*;

#[test]
fn the_chart_readme_values_table_is_generated_from_values_yaml() {
    let values = std::fs::read_to_string(chart_dir().join("values.yaml")).expect("values.yaml");
    let path = chart_dir().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("helm/todo-chatbot/README.md");
    let updated = values_doc::update(&readme, &values)
        .unwrap_or_else(|| panic!("{}: no {} ... {} markers", path.display(), values_doc::START, values_doc::END));
    if std::env::var_os("UPDATE_CHART_README").is_some() {
        std::fs::write(&path, &updated).expect("write the README");
        eprintln!("rewrote the values table of {}", path.display());
        return;
    }
    assert!(updated == readme, "{}: the values table is out of date: run `just chart-readme`", path.display());
}

#[test]
fn every_value_has_a_description() {
    let values = std::fs::read_to_string(chart_dir().join("values.yaml")).expect("values.yaml");
    let undocumented: Vec<String> =
        values_doc::rows(&values).into_iter().filter(|row| row.description.is_empty()).map(|row| row.key).collect();
    assert!(undocumented.is_empty(), "values.yaml: no `# --` description for {undocumented:#?}");
}
