//! End to end: project topics and the project picker, through the real binary, the fake
//! Telegram (forum topics recorded), the real jail and the real claude CLI against the fake
//! model.

mod support;

use support::fake_telegram::SentMessage;
use support::{Harness, OTHER_USER, USER};

const GROUP: i64 = -1001234;

fn write_registry(h: &Harness, text: &str) -> std::path::PathBuf {
    let path = h.tmp.path().join("projects.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn project(slug: &str, name: &str, path: &str, enabled: bool) -> String {
    format!("[[project]]\nslug = {slug:?}\nname = {name:?}\npath = {path:?}\nenabled = {enabled}\n")
}

async fn harness() -> Harness {
    let mut h = Harness::new().await;
    for d in ["alpha", "beta", "gamma"] {
        std::fs::create_dir_all(h.approved().join(d)).unwrap();
    }
    let reg = write_registry(
        &h,
        &format!(
            "{}{}{}",
            project("alpha", "Alpha", "alpha", true),
            project("beta", "Beta", "beta", true),
            project("gamma", "Gamma", "gamma", false),
        ),
    );
    h.set_env("PROJECTS_PATH", &reg.display().to_string());
    h.set_env("PROJECTS_CHAT_ID", &GROUP.to_string());
    h.set_env("ALLOWED_GROUPS", &GROUP.to_string());
    h.set_env("USER_ROLES", &format!("{USER}:admin"));
    h.set_env("MAX_CLAUDE_PROCESSES", "4");
    h
}

/// The thread id of the topic named `name`.
fn thread_of(h: &Harness, name: &str) -> i64 {
    h.tg.forum_topics(GROUP)
        .into_iter()
        .find(|(_, n, _)| n == name)
        .unwrap_or_else(|| panic!("no topic {name:?}: {:?}", h.tg.forum_topics(GROUP)))
        .0
}

/// Wait for a message of the bot in topic `thread` of the group containing `text`.
async fn wait_in(h: &Harness, thread: Option<i64>, after: i64, text: &str) -> SentMessage {
    h.wait_message(GROUP, &format!("{text:?} in topic {thread:?}"), |m| {
        m.message_id > after && m.message_thread_id == thread && m.text.contains(text)
    })
    .await
}

fn synced_count(h: &Harness) -> usize {
    h.log().matches("project topics synced").count()
}

/// The working directory the CLI reported in the model request whose prompt holds `tag`.
fn cwd_of(h: &Harness, tag: &str) -> String {
    let req = h
        .model
        .requests()
        .into_iter()
        .map(|r| r.to_string())
        .find(|r| r.contains(tag))
        .unwrap_or_else(|| panic!("no model request with {tag}"));
    let cue = "Primary working directory: ";
    let at = req.find(cue).expect("cwd in the request") + cue.len();
    req[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\\' && *c != '"')
        .collect()
}

/// The bot started with the registry, after its start-up sync: one topic per enabled project,
/// named from the registry. Returns the harness and the Alpha and Beta topics' thread ids.
async fn started() -> (Harness, i64, i64) {
    let mut h = harness().await;
    h.start().await;
    support::wait_for("the start-up sync", || synced_count(&h) == 1).await;
    let created: Vec<String> =
        h.tg.calls_to("createForumTopic")
            .iter()
            .map(|c| c.params["name"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(
        created,
        vec!["Alpha", "Beta"],
        "disabled gamma gets no topic"
    );
    let (alpha, beta) = (thread_of(&h, "Alpha"), thread_of(&h, "Beta"));
    (h, alpha, beta)
}

#[tokio::test]
async fn topics_follow_the_registry_and_guide_outside_them() {
    let (mut h, alpha, beta) = started().await;
    let root = h.approved();

    // The General topic: guidance listing the topics, no turn.
    let requests = h.model.request_count();
    let mark = h.last_message_id(GROUP);
    h.tg.inject_message(GROUP, USER, "hello from general");
    let g = wait_in(&h, None, mark, "each topic is a project").await;
    assert!(
        g.text.contains("Alpha") && g.text.contains("Beta"),
        "{}",
        g.text
    );
    assert_eq!(
        h.model.request_count(),
        requests,
        "no turn outside the topics"
    );
    // There, /projects points to the topics instead of offering switches.
    let mark = h.last_message_id(GROUP);
    h.tg.inject_message(GROUP, USER, "/projects");
    let g = wait_in(&h, None, mark, "each topic is a project").await;
    assert!(g.reply_markup.is_none(), "no buttons outside the topics");

    // Only admins sync.
    let mark = h.last_message_id(GROUP);
    h.tg.inject_message(GROUP, OTHER_USER, "/sync_topics");
    wait_in(&h, None, mark, "Only admins").await;
    assert!(h.tg.calls_to("editForumTopic").is_empty());

    // The registry changes: alpha renamed, beta removed, gamma enabled.
    write_registry(
        &h,
        &format!(
            "{}{}",
            project("alpha", "Alpha Two", "alpha", true),
            project("gamma", "Gamma", "gamma", true),
        ),
    );
    let mark = h.last_message_id(GROUP);
    h.tg.inject_message(GROUP, USER, "/sync_topics");
    let r = wait_in(&h, None, mark, "Topics synced").await;
    assert!(
        r.text
            .contains("created 1, renamed 1, reopened 0, closed 1"),
        "{}",
        r.text
    );
    let edits = h.tg.calls_to("editForumTopic");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].params["message_thread_id"], alpha);
    assert_eq!(edits[0].params["name"], "Alpha Two");
    let closes = h.tg.calls_to("closeForumTopic");
    assert_eq!(closes.len(), 1);
    assert_eq!(closes[0].params["message_thread_id"], beta);
    let creates = h.tg.calls_to("createForumTopic");
    assert_eq!(creates.len(), 3);
    assert_eq!(creates[2].params["name"], "Gamma");
    let gamma = thread_of(&h, "Gamma");
    assert!(
        h.tg.forum_topics(GROUP)
            .contains(&(beta, "Beta".to_string(), true)),
        "beta's topic is closed"
    );

    // A message in the closed topic gets the guidance, no turn.
    let requests = h.model.request_count();
    let mark = h.last_message_id(GROUP);
    h.tg.inject_topic_message(GROUP, beta, USER, "still here?");
    let g = wait_in(&h, Some(beta), mark, "each topic is a project").await;
    assert!(
        g.text.contains("Gamma") && !g.text.contains("Beta"),
        "{}",
        g.text
    );
    assert_eq!(h.model.request_count(), requests);

    // A restart syncs again and creates nothing twice.
    h.stop().await;
    h.tg.clear_calls();
    h.start().await;
    support::wait_for("the second start-up sync", || synced_count(&h) == 2).await;
    assert!(h.tg.calls_to("createForumTopic").is_empty());
    assert!(h.tg.calls_to("editForumTopic").is_empty());
    assert!(h.tg.calls_to("closeForumTopic").is_empty());
    assert_eq!(h.tg.forum_topics(GROUP).len(), 3);

    // The new topic works in its project.
    let mark = h.last_message_id(GROUP);
    h.tg.inject_topic_message(GROUP, gamma, USER, "gamma speaking");
    wait_in(&h, Some(gamma), mark, "FAKE: you said gamma speaking").await;
    assert_eq!(
        cwd_of(&h, "gamma speaking"),
        root.join("gamma").display().to_string()
    );

    // The picker in a private chat: one button per enabled project; a press switches.
    let before = h.last_message_id(USER);
    h.send("/projects");
    let picker = h
        .wait_message(USER, "the picker", |m| {
            m.message_id > before && m.reply_markup.is_some() && m.text.contains("Projects")
        })
        .await;
    let data = support::button_data(&picker, "Gamma");
    assert!(data.len() <= 64, "{data}");
    assert!(
        !picker
            .reply_markup
            .as_ref()
            .unwrap()
            .to_string()
            .contains("Beta"),
        "removed projects have no button"
    );
    h.tg.inject_callback(USER, USER, picker.message_id, &data);
    h.wait_message(USER, "the picker confirms", |m| {
        m.message_id == picker.message_id && m.text.contains("Now in gamma")
    })
    .await;
    h.ask("private prompt here", "FAKE: you said private prompt here")
        .await;
    assert_eq!(
        cwd_of(&h, "private prompt here"),
        root.join("gamma").display().to_string()
    );

    // Forged callback data is refused and audited, never trusted.
    let unknown = h.audit_count("callback_unknown");
    h.tg.inject_callback(USER, USER, picker.message_id, "pj:s:../../etc");
    support::wait_for("the forged press is audited", || {
        h.audit_count("callback_unknown") > unknown
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn two_topics_run_at_once_each_in_its_project() {
    let (mut h, alpha, beta) = started().await;

    // Two topics run turns at the same time, each in its own project. The fake model holds
    // each answer until both requests are in: "met" proves they overlapped.
    let mark = h.last_message_id(GROUP);
    h.tg.inject_topic_message(GROUP, alpha, USER, "[[meet:pair:2]] alpha speaking");
    h.tg.inject_topic_message(GROUP, beta, USER, "[[meet:pair:2]] beta speaking");
    wait_in(&h, Some(alpha), mark, "FAKE: met pair").await;
    wait_in(&h, Some(beta), mark, "FAKE: met pair").await;
    let root = h.approved();
    assert_eq!(
        cwd_of(&h, "alpha speaking"),
        root.join("alpha").display().to_string()
    );
    assert_eq!(
        cwd_of(&h, "beta speaking"),
        root.join("beta").display().to_string()
    );

    // Each topic has its own session.
    let sessions: i64 = h
        .db()
        .query_row(
            "SELECT COUNT(DISTINCT claude_session_id) FROM sessions WHERE chat_id = ?1",
            [GROUP],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sessions, 2);

    // `/cd` cannot leave the topic's project; `/cd /` is the project's top.
    let mark = h.last_message_id(GROUP);
    h.tg.inject_topic_message(GROUP, alpha, USER, "/cd ../beta");
    let r = wait_in(&h, Some(alpha), mark, "Cannot change directory").await;
    assert!(r.text.contains("bound to the project alpha"), "{}", r.text);
    h.tg.inject_topic_message(GROUP, alpha, USER, "/cd /");
    wait_in(&h, Some(alpha), mark, "Now in alpha").await;

    h.stop().await;
}

#[tokio::test]
async fn picker_without_a_registry_lists_folders_and_cd_without_argument_shows_it() {
    let mut h = Harness::new().await;
    std::fs::create_dir_all(h.approved().join("other")).unwrap();
    std::fs::create_dir_all(h.approved().join(".kube")).unwrap();
    std::fs::create_dir_all(h.approved().join("certs.pem")).unwrap();
    h.start().await;
    let before = h.last_message_id(USER);
    h.send("/cd");
    let picker = h
        .wait_message(USER, "the picker", |m| {
            m.message_id > before && m.reply_markup.is_some()
        })
        .await;
    let markup = picker.reply_markup.as_ref().unwrap().to_string();
    assert!(
        markup.contains("proj") && markup.contains("other"),
        "{markup}"
    );
    assert!(!markup.contains(".kube"), "hidden: {markup}");
    assert!(!markup.contains("certs.pem"), "secret: {markup}");
    h.tg.inject_callback(
        USER,
        USER,
        picker.message_id,
        &support::button_data(&picker, "other"),
    );
    h.wait_message(USER, "the picker confirms", |m| {
        m.message_id == picker.message_id && m.text.contains("Now in other")
    })
    .await;
    h.ask("/pwd", "other").await;
    // A press naming a hidden or secret folder (forged) is not a picker's: refused, audited.
    let unknown = h.audit_count("callback_unknown");
    h.tg.inject_callback(USER, USER, picker.message_id, "pj:d:.kube");
    support::wait_for("the forged press is audited", || {
        h.audit_count("callback_unknown") > unknown
    })
    .await;
    h.ask("/pwd", "other").await;
    // A well-formed press naming a secret folder meets the same policy as `/cd certs.pem`.
    let blocked = h.audit_count("secret_file_blocked");
    let before = h.last_message_id(USER);
    h.tg.inject_callback(USER, USER, picker.message_id, "pj:d:certs.pem");
    h.wait_message(USER, "the refusal", |m| {
        m.message_id > before && m.text.contains("Cannot change directory")
    })
    .await;
    assert!(h.audit_count("secret_file_blocked") > blocked);
    h.ask("/pwd", "other").await;
    h.stop().await;
}

#[tokio::test]
async fn a_bad_registry_or_group_stops_the_start_and_says_why() {
    let mut h = harness().await;
    write_registry(&h, &project("bad", "Bad", "../outside", true));
    let out = h.command().arg("run").output().await.unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("projects.toml")
            && err.contains("project \"bad\"")
            && err.contains("leaves APPROVED_DIRECTORY"),
        "{err}"
    );
    assert!(h.tg.calls_to("createForumTopic").is_empty());

    // The projects group must be allowed too.
    h.set_env("ALLOWED_GROUPS", "-5");
    let out = h.command().arg("run").output().await.unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("PROJECTS_CHAT_ID") && err.contains("ALLOWED_GROUPS"),
        "{err}"
    );
}

#[tokio::test]
async fn a_topic_deleted_by_hand_is_created_again_by_sync_topics() {
    let (mut h, alpha, beta) = started().await;
    h.tg.delete_forum_topic(GROUP, alpha);

    let mark = h.last_message_id(GROUP);
    h.tg.inject_message(GROUP, USER, "/sync_topics");
    let r = wait_in(&h, None, mark, "Topics synced").await;
    // Both open topics were checked (a rename to their own name); Alpha's is gone, so it is
    // created again; Beta's still exists and is left alone.
    assert!(
        r.text
            .contains("created 1, renamed 0, reopened 0, closed 0")
            && !r.text.contains("failed"),
        "{}",
        r.text
    );
    let checked: Vec<i64> =
        h.tg.calls_to("editForumTopic")
            .iter()
            .map(|c| c.params["message_thread_id"].as_i64().unwrap())
            .collect();
    assert_eq!(checked, vec![alpha, beta]);
    let creates = h.tg.calls_to("createForumTopic");
    assert_eq!(creates.len(), 3);
    assert_eq!(creates[2].params["name"], "Alpha");
    let new_alpha = thread_of(&h, "Alpha");
    assert_ne!(new_alpha, alpha);

    // The new topic is alpha's project; nothing is created twice at the next start.
    let mark = h.last_message_id(GROUP);
    h.tg.inject_topic_message(GROUP, new_alpha, USER, "alpha again");
    wait_in(&h, Some(new_alpha), mark, "FAKE: you said alpha again").await;
    assert_eq!(
        cwd_of(&h, "alpha again"),
        h.approved().join("alpha").display().to_string()
    );
    h.stop().await;
    h.tg.clear_calls();
    h.start().await;
    support::wait_for("the second start-up sync", || synced_count(&h) == 2).await;
    assert!(h.tg.calls_to("createForumTopic").is_empty());
    h.stop().await;
}
