"""An MTA-like traffic source: MX lookup, preference order, fallback, ledger."""
