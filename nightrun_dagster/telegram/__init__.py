"""Telegram approval: signed buttons, the decisions ledger, sending shortlists and polling taps."""
