//! Rows behind project topics (`telegram::topics`): registry slug ↔ forum topic.
//!
//! Why a file of its own: the mapping is written only by the topic sync, one row per Bot API
//! call that succeeded (so a sync cut short resumes where it stopped), and read by the chat
//! actors to learn which project a topic is.

use rusqlite::params;

use super::{now_str, Result, Store};

/// One project's topic, as last set on Telegram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRow {
    pub chat_id: i64,
    pub slug: String,
    pub thread_id: i64,
    pub name: String,
    /// The project's canonical folder as of the last sync.
    pub path: String,
    pub closed: bool,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TopicRow> {
    Ok(TopicRow {
        chat_id: r.get(0)?,
        slug: r.get(1)?,
        thread_id: r.get(2)?,
        name: r.get(3)?,
        path: r.get(4)?,
        closed: r.get::<_, i64>(5)? != 0,
    })
}

const COLUMNS: &str = "chat_id, slug, thread_id, name, path, closed";

impl Store {
    /// Every project topic of `chat_id`, by slug.
    pub async fn topics(&self, chat_id: i64) -> Result<Vec<TopicRow>> {
        self.read(move |conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM project_topics WHERE chat_id = ?1 ORDER BY slug"
            ))?;
            let rows = st
                .query_map(params![chat_id], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// The project topic `thread_id` of `chat_id`, if it is one.
    pub async fn topic_by_thread(&self, chat_id: i64, thread_id: i64) -> Result<Option<TopicRow>> {
        self.read(move |conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM project_topics WHERE chat_id = ?1 AND thread_id = ?2"
            ))?;
            let mut rows = st.query_map(params![chat_id, thread_id], row)?;
            Ok(rows.next().transpose()?)
        })
        .await
    }

    /// Record a topic's state after a successful call (insert or replace by slug).
    pub async fn topic_save(&self, t: &TopicRow) -> Result<()> {
        let t = t.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO project_topics (chat_id, slug, thread_id, name, path, closed, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (chat_id, slug) DO UPDATE SET thread_id = excluded.thread_id,
                   name = excluded.name, path = excluded.path, closed = excluded.closed,
                   updated_at = excluded.updated_at",
                params![
                    t.chat_id,
                    t.slug,
                    t.thread_id,
                    t.name,
                    t.path,
                    t.closed as i64,
                    now_str()
                ],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn topics_are_saved_by_slug_and_found_by_thread() {
        let s = Store::open_in_memory().unwrap();
        let mut t = TopicRow {
            chat_id: -100,
            slug: "web".into(),
            thread_id: 5,
            name: "Web".into(),
            path: "/srv/web".into(),
            closed: false,
        };
        s.topic_save(&t).await.unwrap();
        t.name = "Web app".into();
        t.closed = true;
        s.topic_save(&t).await.unwrap();
        assert_eq!(s.topics(-100).await.unwrap(), vec![t.clone()]);
        assert_eq!(s.topics(-200).await.unwrap(), vec![]);
        assert_eq!(s.topic_by_thread(-100, 5).await.unwrap(), Some(t));
        assert_eq!(s.topic_by_thread(-100, 6).await.unwrap(), None);
        assert_eq!(s.topic_by_thread(-200, 5).await.unwrap(), None);
    }
}
