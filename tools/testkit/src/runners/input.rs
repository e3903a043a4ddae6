//! What a client may send: size limits and message types. Each refusal
//! must carry the close code RFC 6455 section 7.4.1 names for it.

use super::{REPLY, Run};
use crate::raw::{RawClient, opcode};
use anyhow::Result;
use scenarios::Seen;
use scenarios::close::{INVALID, PROTOCOL, TOO_BIG, UNSUPPORTED};
use scenarios::params::{FRAGMENT_KIB, OVERSIZED_KIB};

fn closed_with(event: &Seen, wanted: u16) -> bool {
    matches!(event, Seen::Close { code, reason } if *code == wanted && !reason.is_empty())
}

pub async fn oversized_frame(run: &mut Run) -> Result<()> {
    // The same text twice: as one frame, and as fragments that are each
    // small but add up to too much. Both join before either sends: a
    // session that ends leaves a stale sender behind in part3, and a later
    // join's broadcast would crash it.
    let mut whole = run.join("1").await?;
    let mut pieces = run.join("2").await?;
    let mut bystander = run.join("3").await?;
    run.step("sending the oversized message");
    whole.send_text(&"x".repeat(OVERSIZED_KIB * 1024)).await?;
    pieces
        .send_text_in_fragments(&"y".repeat(OVERSIZED_KIB * 1024), FRAGMENT_KIB * 1024)
        .await?;
    let (seen_whole, seen_pieces) =
        tokio::join!(whole.next_non_text(REPLY), pieces.next_non_text(REPLY));
    for (who, event) in [
        ("the sender of one frame", seen_whole.seen()),
        ("the sender of fragments", seen_pieces.seen()),
    ] {
        let ok = closed_with(&event, TOO_BIG);
        run.saw(who, event, ok);
    }
    // Whoever was closed is gone; the bystander must be able to go on.
    run.observe_others_chat(&mut [("3", &mut bystander)], false)
        .await?;
    Ok(())
}

pub async fn binary_frame(run: &mut Run) -> Result<()> {
    let mut one = run.join("1").await?;
    let mut bystander = run.join("2").await?;
    run.step("sending a binary message, then a text");
    one.send_binary(vec![0, 159, 146, 150]).await?;
    // If the binary message is ignored, this text's echo shows it.
    one.send_text("after binary").await?;
    let echo = "[UID: 1]: after binary";
    let event = match one.wait_for_text(echo, REPLY).await {
        Ok(()) => Seen::Text(echo.into()),
        Err(event) => event.seen(),
    };
    let ok = closed_with(&event, UNSUPPORTED);
    run.saw("user 1", event, ok);
    run.observe_others_chat(&mut [("2", &mut bystander)], false)
        .await?;
    Ok(())
}

pub async fn invalid_frames(run: &mut Run) -> Result<()> {
    let mut bystander = run.join("3").await?;
    let addr = run.server().addr();
    run.step("a text message that is not UTF-8");
    let mut one = RawClient::open(addr, "1", None).await?;
    one.send_frame(opcode::TEXT, &[0x68, 0x69, 0xff, 0xfe])
        .await?;
    let seen = one.read_back(REPLY).await?.end;
    let ok = closed_with(&seen, INVALID);
    run.saw("the sender of bytes that are not UTF-8", seen, ok);
    run.step("a frame with a reserved opcode");
    let mut two = RawClient::open(addr, "2", None).await?;
    two.send_frame(RESERVED, b"what is this").await?;
    let seen = two.read_back(REPLY).await?.end;
    let ok = closed_with(&seen, PROTOCOL);
    run.saw("the sender of a reserved opcode", seen, ok);
    run.observe_others_chat(&mut [("3", &mut bystander)], false)
        .await?;
    Ok(())
}

/// An opcode RFC 6455 reserves for data frames to come (0x3 to 0x7).
const RESERVED: u8 = 0x3;
