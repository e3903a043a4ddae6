use super::*;

#[test]
fn only_takes_ids_and_test_names_and_rejects_others() {
    let picked = select(&["user-leaves".into(), "half_open_client".into()]).expect("known");
    assert_eq!(picked, [Scenario::UserLeaves, Scenario::HalfOpenClient]);
    let err = select(&["nope".into()]).expect_err("unknown");
    assert!(err.to_string().contains("\"nope\""), "{err}");
}

#[test]
fn the_default_selection_leaves_out_what_no_exercise_can_fix() {
    let all = select(&[]).expect("default");
    assert!(!all.contains(&Scenario::CloseHandshake));
    assert!(all.contains(&Scenario::UserLeaves));
    assert!(all.contains(&Scenario::Broadcast));
}

#[test]
fn a_missing_binary_is_an_error_before_any_scenario() {
    let target = Target::Binary(PathBuf::from("no/such/server"));
    let err = target::check_server(&target).expect_err("no binary");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn a_line_per_scenario_whatever_the_error() {
    let long = Checked::Error("exited with 101\nstderr:\npanicked at ...".into());
    let line = one_line(&long);
    assert!(!line.contains('\n'), "{line}");
    assert!(line.ends_with("(more below)"), "{line}");
    assert_eq!(one_line(&Checked::Ran(Verdict::Works)), "works");
}

#[test]
fn only_what_part2_got_right_can_regress() {
    let defect = Checked::Ran(Verdict::Defect);
    assert!(regressed_from_part2(Scenario::Broadcast, &defect));
    assert!(!regressed_from_part2(
        Scenario::Broadcast,
        &Checked::Error("gone".into())
    ));
    let not_applicable = Checked::Ran(Verdict::NotApplicable);
    assert!(!regressed_from_part2(Scenario::Broadcast, &not_applicable));
    assert!(!regressed_from_part2(Scenario::CloseHandshake, &defect));
    assert!(!regressed_from_part2(Scenario::ClusterBroadcast, &defect));
}

#[test]
fn the_json_words_are_the_ones_verify_reads() {
    assert_eq!(Checked::Ran(Verdict::Works).word(), "works");
    assert_eq!(Checked::Ran(Verdict::Defect).word(), "defect");
    assert_eq!(Checked::Error(String::new()).word(), "error");
}

#[test]
fn the_list_keeps_its_columns_and_sends_no_cluster_scenario_to_part2() {
    let lines = list_lines();
    let column = |line: &str| {
        line.find("  ")
            .map(|i| i + line[i..].len() - line[i..].trim_start().len())
    };
    let first = column(&lines[0]);
    for line in &lines {
        assert_eq!(column(line), first, "{line}");
        if line.starts_with("cluster-") {
            assert!(!line.contains("works on part2"), "{line}");
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("broadcast ") && l.contains("works on part2"))
    );
}
