//! Real-shaped transcripts through the index and the turn parser together.

use std::sync::Arc;

use super::*;
use crate::usage::PriceTable;

/// A session as Claude Code writes one: a prompt, a reply streamed as three lines (one
/// repeated), an edit and its result, a Bash call that failed, a subagent run written inline,
/// an image, a `<synthetic>` reply, a summary record and a secret in a tool output.
pub(crate) const SESSION: &str = include_str!("fixtures/session.jsonl");

fn turns(text: &str) -> Vec<Turn> {
    let mut index = TranscriptIndex::new();
    index.feed(text.as_bytes());
    let prices = Arc::new(PriceTable::builtin());
    index
        .turns()
        .iter()
        .enumerate()
        .map(|(i, span)| {
            parse_turn(
                &text.as_bytes()
                    [usize::try_from(span.start).unwrap()..usize::try_from(span.end).unwrap()],
                span,
                i as u64,
                &prices,
            )
        })
        .collect()
}

#[test]
fn a_real_shaped_session() {
    let turns = turns(SESSION);
    insta::assert_debug_snapshot!(turns);
}

#[test]
fn secrets_never_survive_parsing() {
    let turns = turns(SESSION);
    let all = format!("{turns:?}");
    assert!(!all.contains("sk-ant-api03-SECRETSECRETSECRET"), "{all}");
    assert!(all.contains("<redacted>"));
}

#[test]
fn pages_count_from_either_end() {
    let desc = page_positions(5, 0, 2, Order::Desc);
    assert_eq!(desc.positions, vec![4, 3]);
    assert_eq!(desc.next_cursor, Some(2));
    let last = page_positions(5, 4, 2, Order::Desc);
    assert_eq!(last.positions, vec![0]);
    assert_eq!(last.next_cursor, None);
    let asc = page_positions(5, 2, 2, Order::Asc);
    assert_eq!(asc.positions, vec![2, 3]);
    assert_eq!(
        page_positions(5, 9, 0, Order::Asc).positions,
        Vec::<usize>::new()
    );
    assert_eq!(page_positions(0, 0, 50, Order::Desc).next_cursor, None);
    assert_eq!(Order::parse(Some("sideways")), Order::Desc);
    assert_eq!(Order::parse(Some("ASC")), Order::Asc);
}
