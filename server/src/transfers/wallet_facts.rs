//! The facts of a wallet that never change (its owner and currency), cached in memory so that a
//! transfer does not read two account rows before it is posted. Safe because the schema forbids
//! changing an account's id, kind, owner or currency and forbids deleting accounts (triggers in
//! `0001_ledger.sql`): a cached entry can never become wrong, only absent. Balances are never
//! cached here (the wallet actors own them). Bounded: when full, the cache starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::ledger::{Account, AccountKind, Ledger, LedgerError};

/// Wallets remembered at once (about 150 bytes each).
pub const WALLET_FACTS_MAX: usize = 65_536;

/// What never changes about a wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletFacts {
    pub id: String,
    pub owner_id: String,
    pub currency: String,
}

impl WalletFacts {
    /// `None` for system accounts, which are never the wallet of a transfer request.
    pub fn of(account: Account) -> Option<WalletFacts> {
        match (account.kind, account.owner_id) {
            (AccountKind::Wallet, Some(owner_id)) => Some(WalletFacts {
                id: account.id,
                owner_id,
                currency: account.currency,
            }),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct WalletFactsCache {
    known: Mutex<HashMap<String, Arc<WalletFacts>>>,
}

impl WalletFactsCache {
    /// The wallet `id`, from memory or the ledger; `None` when no wallet has this id.
    pub async fn get(
        &self,
        ledger: &Ledger,
        id: &str,
    ) -> Result<Option<Arc<WalletFacts>>, LedgerError> {
        if let Some(facts) = self.lock().get(id) {
            return Ok(Some(facts.clone()));
        }
        // Absence is not cached: the wallet may be opened a moment later.
        Ok(ledger
            .account(id)
            .await?
            .and_then(WalletFacts::of)
            .map(|facts| self.remember(facts)))
    }

    /// Remembers `facts` (read elsewhere) and returns them shared.
    pub fn remember(&self, facts: WalletFacts) -> Arc<WalletFacts> {
        let facts = Arc::new(facts);
        let mut known = self.lock();
        if known.len() >= WALLET_FACTS_MAX {
            known.clear();
        }
        known.insert(facts.id.clone(), facts.clone());
        facts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<WalletFacts>>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}
