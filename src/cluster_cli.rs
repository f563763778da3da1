//! `dialbridge cluster status`: the nodes sharing a PostgreSQL directory, read from it.

use clap::Subcommand;
use dialbridge::store::{DatabaseUrl, NodeStatus, Store, StoreError};

/// What `dialbridge cluster` can do.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// The nodes on this directory: state, last heartbeat, calls and meetings owned.
    Status {
        /// One JSON object per node instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Why `dialbridge cluster` failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterCliError {
    /// The directory is the embedded SQLite file: no cluster.
    #[error(
        "a cluster needs a shared PostgreSQL directory: give the nodes' --database-url (a single node on SQLite has no cluster)"
    )]
    NotShared,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// stdout failed.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

/// What a node's row means to an operator.
fn state(node: &NodeStatus) -> &'static str {
    if node.last_seen_ago_ms > millis(dialbridge::cluster::NODE_GONE_AFTER) {
        "gone"
    } else if node.draining {
        "draining"
    } else {
        "up"
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs a `dialbridge cluster` command against the directory at `url`.
pub async fn run(
    url: Option<&DatabaseUrl>,
    command: ClusterCommand,
    out: &mut dyn std::io::Write,
) -> Result<(), ClusterCliError> {
    let url = url.ok_or(ClusterCliError::NotShared)?;
    let store = Store::open_postgres(url).await?;
    let ClusterCommand::Status { json } = command;
    let nodes = store.cluster_status().await;
    store.close().await?;
    let nodes = nodes?;
    let write = |out: &mut dyn std::io::Write, line: String| {
        writeln!(out, "{line}").map_err(ClusterCliError::Output)
    };
    if json {
        for node in &nodes {
            let mut value = serde_json::to_value(node).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("state".into(), state(node).into());
            }
            write(out, value.to_string())?;
        }
        return Ok(());
    }
    write(
        out,
        format!(
            "{:<20} {:<22} {:<9} {:>10} {:>6} {:>8}",
            "NODE", "SIP", "STATE", "LAST SEEN", "CALLS", "MEETINGS"
        ),
    )?;
    for node in &nodes {
        let seen = format!("{:.1} s ago", node.last_seen_ago_ms.max(0) as f64 / 1000.0);
        write(
            out,
            format!(
                "{:<20} {:<22} {:<9} {:>10} {:>6} {:>8}",
                node.name,
                node.advertise,
                state(node),
                seen,
                node.calls,
                node.meetings_owned
            ),
        )?;
    }
    if nodes.is_empty() {
        write(out, "(no node has joined this directory's cluster)".into())?;
    }
    Ok(())
}
