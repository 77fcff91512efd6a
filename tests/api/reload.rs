//! Hot reload: a good edit takes effect on the running server; a bad one is reported with its
//! place and the last good set keeps serving.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::ops::copy_dir;

async fn app_on_copies(reload_ms: u64) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("flows"), &dir.path().join("flows"));
    copy_dir(&root.join("templates"), &dir.path().join("templates"));
    let options = Options {
        flows_dir: dir.path().join("flows"),
        templates_dir: dir.path().join("templates"),
        reload_ms,
        ..Options::default()
    };
    (spawn_with(options).await, dir)
}

#[tokio::test]
async fn a_good_edit_takes_effect_and_a_bad_one_keeps_the_last_good_set() {
    let (app, dir) = app_on_copies(0).await;
    let template = dir.path().join("templates/messages/en/menu/offer.hbs");
    assert!(app.sms(&sid(), "+15555550100", "blorp").await.text().contains("not sure what you mean"));

    // Good edit.
    std::fs::write(&template, "Hmm, that one's new to me. Reply MENU for options.").unwrap();
    assert!(matches!(app.state.library.reload_if_changed(), Some(Ok(()))));
    let reply = app.sms(&sid(), "+15555550150", "blorp").await;
    assert!(reply.text().contains("new to me"), "{}", reply.text());

    // Bad edit: a flow pointing at a missing step.
    let flow = dir.path().join("flows/fallback.yaml");
    let broken = std::fs::read_to_string(&flow).unwrap().replace("next: declined", "next: nowhere");
    std::fs::write(&flow, broken).unwrap();
    let diags = app.state.library.reload_if_changed().expect("change seen").expect_err("broken edit rejected");
    assert!(
        diags
            .iter()
            .any(|d| d.to_string().contains("fallback.yaml:") && d.message.contains("unknown step \"nowhere\"")),
        "{diags:?}"
    );
    let still = app.sms(&sid(), "+15555550151", "blorp").await;
    assert!(still.text().contains("new to me"), "the last good set keeps serving: {}", still.text());
}

#[tokio::test]
async fn the_running_server_picks_up_an_edit_by_itself_within_seconds() {
    let (app, dir) = app_on_copies(100).await;
    let template = dir.path().join("templates/messages/en/menu/offer.hbs");
    std::fs::write(&template, "Reloaded by the watcher. Reply MENU for options.").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        // A new number each time, so every message is a first miss.
        let reply = app.sms(&sid(), &format!("+1555555{:04}", 1000 + n), "blorp").await;
        if reply.text().contains("Reloaded by the watcher") {
            break;
        }
        assert!(Instant::now() < deadline, "edit not picked up within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
