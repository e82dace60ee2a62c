//! The one query the transfers API runs itself: how much a wallet sent in P2P transfers since a
//! moment (for the daily limit). Everything else goes through [`crate::ledger::Ledger`]. It
//! never writes.

use crate::db::Db;
use crate::with_db;

/// Sum of the P2P transfers debited from `wallet_id` created at or after `since_ms`, in minor
/// units. Served by the `transfers (debit_account, seq)` index, so its cost grows with the
/// wallet's own history only.
pub async fn p2p_sent_since(db: &Db, wallet_id: &str, since_ms: i64) -> Result<i64, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM transfers \
         WHERE debit_account = $1 AND kind = 'p2p' AND created_at_ms >= $2",
    )
    .bind(wallet_id)
    .bind(since_ms)
    .fetch_one(pool)
    .await)
}
