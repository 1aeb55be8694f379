"""Planning a night: which jobs run, their budgets, their input snapshots and variants."""
